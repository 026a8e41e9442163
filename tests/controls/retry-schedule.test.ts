import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { parseRetrySchedule, retryDelayMs } from "../../src/controls/retry-schedule.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { runDaemon } from "../../src/index.js";
import os from "node:os";
import { ROOT } from "../support/built-dist.js";
import { captureLogs } from "../support/log-capture.js";
import { ledgerEntry } from "../support/ledger-entries.js";
import { spawnDaemon } from "../support/daemon-process.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

describe("parsing a retry schedule", () => {
  it("reads delays and exponential schedules in milliseconds", () => {
    expect(parseRetrySchedule({ delays: ["1m", "5m", "1m30s", "500ms", 250] })).toEqual({
      schedule: { delays: [60_000, 300_000, 90_000, 500, 250] },
    });
    expect(parseRetrySchedule({ exponential: { first: "1s", factor: 2, cap: "30s", jitter: 0.1 } })).toEqual({
      schedule: { exponential: { first: 1000, factor: 2, cap: 30_000, jitter: 0.1 } },
    });
  });

  it("names the field of every problem", () => {
    expect(parseRetrySchedule({ delays: ["1m", "soon"] })).toEqual({
      problems: ["retry.delays[1]: expected a duration such as 500ms, 1s, 1m30s or 2h"],
    });
    expect(parseRetrySchedule({ delays: [] })).toEqual({ problems: ["retry.delays: needs at least one delay"] });
    expect(parseRetrySchedule({ exponential: { first: "10s", factor: 0.5, cap: "1s", jitter: 2 } })).toEqual({
      problems: [
        "retry.exponential.factor: must be at least 1",
        "retry.exponential.jitter: must be from 0 to 1",
        "retry.exponential.cap: must be at least first",
      ],
    });
    expect(parseRetrySchedule({ exponential: { first: "10s", cap: "1s" } })).toEqual({
      problems: ["retry.exponential.cap: must be at least first"],
    });
    const neither = parseRetrySchedule({ every: "1m" });
    expect("problems" in neither && neither.problems[0]).toMatch(/^retry: expected \{ delays: .* or \{ exponential:/);
  });

  it("is checked by defineTask, naming the task and the field", () => {
    expect(() =>
      defineTask({ name: "bad-retry", payload: z.object({}), retry: { delays: ["1x"] }, handler: async () => undefined }),
    ).toThrow("task bad-retry: retry.delays[0]: expected a duration such as 500ms, 1s, 1m30s or 2h");
  });
});

describe("the delay of each attempt", () => {
  it("takes the delays in order and repeats the last", () => {
    const schedule = { delays: [1000, 5000, 15_000] };
    expect([1, 2, 3, 4, 9].map((n) => retryDelayMs(schedule, n))).toEqual([1000, 5000, 15_000, 15_000, 15_000]);
  });

  it("grows by the factor up to the cap, with jitter within its fraction (never past the cap)", () => {
    const schedule = { exponential: { first: 1000, factor: 2, cap: 30_000, jitter: 0 } };
    expect([1, 2, 3, 5, 6, 20].map((n) => retryDelayMs(schedule, n))).toEqual([1000, 2000, 4000, 16_000, 30_000, 30_000]);
    const jittered = { exponential: { first: 1000, factor: 2, cap: 30_000, jitter: 0.1 } };
    expect(retryDelayMs(jittered, 2, () => 0)).toBe(1800);
    expect(retryDelayMs(jittered, 2, () => 1)).toBe(2200);
    expect(retryDelayMs(jittered, 10, () => 1)).toBe(30_000);
  });
});

/** The gap between each attempt's end and the next one's start, in ms, from history. */
async function gaps(db: TestDatabase, jobId: string): Promise<number[]> {
  const runs = await runsOf(db.handle.db, jobId);
  return runs.slice(1).map((run, i) => new Date(run.started_at).getTime() - new Date(runs[i]!.finished_at).getTime());
}

function expectGaps(actual: number[], configured: number[]): void {
  expect(actual).toHaveLength(configured.length);
  // The configured delay, within a second (and never early).
  actual.forEach((gap, i) => {
    expect(gap).toBeGreaterThanOrEqual(configured[i]! - 20);
    expect(gap).toBeLessThan(configured[i]! + 1000);
  });
}

describe("retries at a task's schedule, seen in history", () => {
  let db: TestDatabase;
  const boom = async () => {
    throw new Error("boom");
  };
  const tasks = taskRegistry(
    defineTask({ name: "listed", payload: z.object({}), maxAttempts: 4, retry: { delays: ["1s", "2s"] }, handler: boom }),
    defineTask({
      name: "doubling",
      payload: z.object({}),
      maxAttempts: 4,
      retry: { exponential: { first: "500ms", factor: 2, cap: "2s" } },
      handler: boom,
    }),
    defineTask({ name: "engine-curve", payload: z.object({}), maxAttempts: 2, handler: boom }),
  );

  beforeAll(async () => {
    db = await createTestDatabase();
    await startTestDaemon(db, tasks);
  });

  it("delays: 1 s, then 2 s, then 2 s again (the last repeats)", async () => {
    const id = await addJobWithSql(db.handle.db, "listed", {}, { maxAttempts: 4 });
    await waitFor("four attempts", async () => (await runsOf(db.handle.db, id)).length === 4, 30_000);
    expectGaps(await gaps(db, id), [1000, 2000, 2000]);
    expect((await runsOf(db.handle.db, id)).map((r) => r.status)).toEqual(["failed", "failed", "failed", "dead"]);
  });

  it("exponential: 500 ms, 1 s, then capped at 2 s", async () => {
    const id = await addJobWithSql(db.handle.db, "doubling", {});
    await waitFor("four attempts", async () => (await runsOf(db.handle.db, id)).length === 4, 30_000);
    expectGaps(await gaps(db, id), [500, 1000, 2000]);
  });

  it("without a schedule keeps graphile-worker's curve (exp(1) s after the first failure)", async () => {
    const id = await addJobWithSql(db.handle.db, "engine-curve", {});
    await waitFor("the first attempt", async () => (await runsOf(db.handle.db, id)).length === 1);
    await waitFor("the engine's failure", async () => (await jobInEngine(db.handle.db, id))?.locked_at === null);
    const job = (await jobInEngine(db.handle.db, id))!;
    const finished = new Date((await runsOf(db.handle.db, id))[0]!.finished_at).getTime();
    // exp(1) = 2.72 s after the failure landed; no request was written for it.
    expect((job.run_at as Date).getTime() - finished).toBeGreaterThan(2500);
    expect(await db.handle.db.selectFrom("pgmill.job_reschedules").selectAll().where("job_id", "=", id).execute()).toEqual([]);
  });
});

describe("a task from a tasks directory", () => {
  const made: string[] = [];
  afterAll(async () => {
    await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("retries at its schedule under `pgmill run --tasks`", async () => {
    const db = await createTestDatabase();
    const tmp = path.join(ROOT, "tests/.tmp");
    await mkdir(tmp, { recursive: true });
    const dir = await mkdtemp(path.join(tmp, "retry-tasks-"));
    made.push(dir);
    await writeFile(
      path.join(dir, "flaky.ts"),
      `import { z } from "zod";
import { defineTask } from "pgmill";
export default defineTask({
  name: "flaky",
  payload: z.object({}),
  maxAttempts: 3,
  retry: { delays: ["1500ms"] },
  handler: async () => { throw new Error("flaky"); },
});
`,
    );
    const daemon = await spawnDaemon({ DATABASE_URL: db.url, PGMILL_TASKS: dir });
    await daemon.waitForLog("pgmill daemon running", 60_000);
    const id = await addJobWithSql(db.handle.db, "flaky", {}, { maxAttempts: 3 });
    await waitFor("three attempts", async () => (await runsOf(db.handle.db, id)).length === 3, 30_000);
    expectGaps(await gaps(db, id), [1500, 1500]);
    daemon.child.kill("SIGTERM");
    await daemon.exited;
  });
});

describe("the ledger writes a retry request with its history row", () => {
  it("in the same statement, and not at all for an outcome written as stale", async () => {
    const db = await createTestDatabase();
    const ledger = new Ledger(db.handle.db, { batchSize: 10, logger: captureLogs().logger });
    const runAt = new Date(Date.now() + 60_000);
    const failed = ledgerEntry({ jobId: "41", status: "failed", error: { message: "boom", stack: null } });
    const late = ledgerEntry({ jobId: "42", status: "failed", error: { message: "boom", stack: null } });
    const dead = {
      ...ledgerEntry({ jobId: "43", status: "dead" }),
      deadLetter: {
        jobId: "43", jobRevision: 0, task: "ledger-test", payload: {}, queue: null, priority: 0, jobKey: null, flags: null,
        attempts: 3, maxAttempts: 3, jobCreatedAt: null, reason: "max_attempts" as const, daemonId: "test",
      },
    };
    const results = await Promise.all([
      ledger.write({ ...failed, reschedule: { runAt, attempts: null, reason: "retry" } }),
      // Its daemon no longer holds the job: stale, and no request.
      ledger.write({ ...late, heldBy: ["gone-worker"], reschedule: { runAt, attempts: null, reason: "retry" } }),
      ledger.write(dead),
    ]);
    expect(results).toEqual(["recorded", "stale", "recorded"]);
    const requests = await db.handle.db.selectFrom("pgmill.job_reschedules").selectAll().execute();
    expect(requests).toEqual([{ job_id: "41", run_at: runAt, attempts: null, reason: "retry", requested_at: expect.any(Date) }]);
    const rows = await db.handle.db.selectFrom("pgmill.job_runs").select(["job_id", "status"]).orderBy("job_id").execute();
    expect(rows).toEqual([{ job_id: "41", status: "failed" }, { job_id: "42", status: "stale" }, { job_id: "43", status: "dead" }]);
    // Its dead letter went in the same statement as the request.
    expect((await db.handle.db.selectFrom("pgmill.dead_letters").select("job_id").execute()).map((r) => r.job_id)).toEqual(["43"]);
    // A later retry of the same job replaces its request.
    const later = new Date(runAt.getTime() + 1000);
    await ledger.write({ ...ledgerEntry({ jobId: "41", attempt: 2, status: "failed" }), reschedule: { runAt: later, attempts: null, reason: "retry" } });
    expect((await db.handle.db.selectFrom("pgmill.job_reschedules").select("run_at").execute()).map((r) => r.run_at)).toEqual([later]);
    await ledger.close(1000);
  });
});

describe("a task handed to runDaemon", () => {
  it("retries at its schedule", async () => {
    const db = await createTestDatabase();
    const crontab = path.join(await mkdtemp(path.join(os.tmpdir(), "pgmill-retry-")), "crontab");
    await writeFile(crontab, "");
    let tries = 0;
    const daemon = await runDaemon({
      databaseUrl: db.url,
      crontab,
      logger: captureLogs().logger,
      tasks: [
        defineTask({
          name: "library-flaky",
          payload: z.object({}),
          retry: { exponential: { first: "700ms", factor: 2 } },
          handler: async () => {
            if (++tries < 3) throw new Error("not yet");
          },
        }),
      ],
    });
    try {
      const id = await addJobWithSql(db.handle.db, "library-flaky", {});
      await waitFor("the third attempt to succeed", async () => (await runsOf(db.handle.db, id)).length === 3, 20_000);
      expectGaps(await gaps(db, id), [700, 1400]);
    } finally {
      await daemon.stop();
    }
  });
});
