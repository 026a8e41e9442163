import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { sql } from "kysely";
import { PermanentError, defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { addJobWithSql, deadLetterOf, jobInEngine, makeDueNow, runsOf } from "../support/sql-jobs.js";
import { waitFor } from "../support/wait-for.js";

const seen: { payload: unknown; attempt: number }[] = [];
const concurrency = { active: 0, max: 0 };
let toggleBroken = true;

const tasks = taskRegistry(
  defineTask({
    name: "ok",
    payload: z.object({ n: z.number(), secret: z.string().optional() }),
    handler: async (payload, { job }) => void seen.push({ payload, attempt: job.attempt }),
  }),
  defineTask({
    name: "always-fails",
    payload: z.object({}),
    handler: async () => {
      throw new Error("boom");
    },
  }),
  defineTask({
    name: "permanent",
    payload: z.object({}),
    handler: async () => {
      throw new PermanentError("account deleted");
    },
  }),
  defineTask({
    name: "toggle",
    payload: z.object({}),
    handler: async () => {
      if (toggleBroken) throw new PermanentError("still broken");
    },
  }),
  // Honours its signal, but only after a further 300ms: the slot must stay taken until then.
  defineTask({
    name: "slow",
    payload: z.object({}),
    timeout: 200,
    handler: async (_payload, { signal }) => {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      await new Promise((resolve) => setTimeout(resolve, 300));
      throw signal.reason;
    },
  }),
  // Ignores its signal entirely.
  defineTask({
    name: "stubborn",
    payload: z.object({}),
    timeout: 50,
    handler: async () => {
      concurrency.active++;
      concurrency.max = Math.max(concurrency.max, concurrency.active);
      await new Promise((resolve) => setTimeout(resolve, 150));
      concurrency.active--;
    },
  }),
);

let db: TestDatabase;
let running: TestDaemon;

beforeAll(async () => {
  db = await createTestDatabase();
  running = await startTestDaemon(db, tasks, { settings: { PGMILL_CONCURRENCY: "4" } });
});

const finalRuns = (jobId: string, count: number) =>
  waitFor(`${count} history rows for job ${jobId}`, async () => {
    const runs = await runsOf(db.handle.db, jobId);
    return runs.length >= count ? runs : null;
  });

describe("attempts", () => {
  it("runs a job inserted with plain SQL and records a succeeded row before it leaves graphile-worker", async () => {
    const jobId = await addJobWithSql(db.handle.db, "ok", { n: 1 });
    const [run] = await finalRuns(jobId, 1);
    expect(run).toMatchObject({ task: "ok", attempt: 1, max_attempts: 25, status: "succeeded", daemon_id: running.daemon.id });
    expect(run!.payload).toEqual({ n: 1 });
    expect(run!.duration_ms).toBeGreaterThanOrEqual(0);
    expect(run!.finished_at.getTime()).toBeGreaterThanOrEqual(run!.started_at.getTime());
    await waitFor("the job to be completed", async () => !(await jobInEngine(db.handle.db, jobId)));
    expect(seen).toContainEqual({ payload: { n: 1 }, attempt: 1 });
  });

  it("retries a failing task with backoff, then dead-letters it with every attempt in history", async () => {
    const jobId = await addJobWithSql(db.handle.db, "always-fails", {}, { maxAttempts: 3 });
    for (let attempt = 1; attempt < 3; attempt++) {
      await finalRuns(jobId, attempt);
      // graphile-worker scheduled the retry in the future (exponential backoff)...
      const job = await waitFor("the failed job to be unlocked", async () => {
        const j = await jobInEngine(db.handle.db, jobId);
        return j && j.locked_at === null ? j : null;
      });
      expect(job.run_at.getTime()).toBeGreaterThan(Date.now());
      expect(job.attempts).toBe(attempt);
      // ...which the test skips so it stays quick.
      await makeDueNow(db.handle.db, jobId);
    }
    const runs = await finalRuns(jobId, 3);
    expect(runs.map((r) => r.status)).toEqual(["failed", "failed", "dead"]);
    expect(runs.every((r) => r.error_message === "boom" && r.error_stack?.includes("Error: boom"))).toBe(true);
    const letter = await waitFor("the dead letter", () => deadLetterOf(db.handle.db, jobId));
    expect(letter).toMatchObject({ task: "always-fails", reason: "max_attempts", attempts: 3, max_attempts: 3, last_error: "boom" });
    expect(letter.payload).toEqual({});
    await waitFor("graphile-worker to drop the job", async () => !(await jobInEngine(db.handle.db, jobId)));
  });

  it("dead-letters a payload that fails the task's schema at once, with the zod issues", async () => {
    const jobId = await addJobWithSql(db.handle.db, "ok", { n: "not a number" });
    const runs = await finalRuns(jobId, 1);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: "dead", attempt: 1 });
    expect(runs[0]!.error_message).toMatch(/payload does not match task ok: .*expected number.*n/);
    const letter = await waitFor("the dead letter", () => deadLetterOf(db.handle.db, jobId));
    expect(letter.reason).toBe("invalid_payload");
    expect(letter.payload).toEqual({ n: "not a number" });
    await waitFor("graphile-worker to drop the job", async () => !(await jobInEngine(db.handle.db, jobId)));
  });

  it("dead-letters a PermanentError at once, without retries", async () => {
    const jobId = await addJobWithSql(db.handle.db, "permanent", {}, { maxAttempts: 10 });
    await waitFor("the dead letter", () => deadLetterOf(db.handle.db, jobId));
    const runs = await runsOf(db.handle.db, jobId);
    expect(runs.map((r) => [r.attempt, r.status, r.error_message])).toEqual([[1, "dead", "account deleted"]]);
    expect((await deadLetterOf(db.handle.db, jobId))?.reason).toBe("permanent_error");
  });

  it("records a timeout as timed_out, keeps the slot until the handler settles, and retries", async () => {
    const jobId = await addJobWithSql(db.handle.db, "slow", {}, { maxAttempts: 2 });
    const [first] = await finalRuns(jobId, 1);
    expect(first).toMatchObject({ status: "timed_out", error_message: "timed out after 200ms" });
    // 200ms to the abort, then 300ms more before the handler settled.
    expect(first!.duration_ms).toBeGreaterThanOrEqual(480);
    await waitFor("the retry to be scheduled", async () => (await jobInEngine(db.handle.db, jobId))?.locked_at === null);
    await makeDueNow(db.handle.db, jobId);
    const runs = await finalRuns(jobId, 2);
    expect(runs.map((r) => r.status)).toEqual(["timed_out", "dead"]);
    expect((await deadLetterOf(db.handle.db, jobId))?.last_error).toBe("timed out after 200ms");
  });

  it("never runs more handlers than the concurrency bound, even when they ignore their timeout", async () => {
    const ids = await Promise.all(Array.from({ length: 12 }, () => addJobWithSql(db.handle.db, "stubborn", {}, { maxAttempts: 1 })));
    for (const id of ids) await finalRuns(id, 1);
    expect(concurrency.max).toBeGreaterThan(1);
    expect(concurrency.max).toBeLessThanOrEqual(4);
    const statuses = await db.handle.db.selectFrom("pgmill.job_runs").select("status").where("task", "=", "stubborn").execute();
    expect(statuses.map((s) => s.status)).toEqual(Array(12).fill("dead"));
  });

  it("runs a dead letter again with pgmill.retry_dead_letter", async () => {
    const jobId = await addJobWithSql(db.handle.db, "toggle", {});
    const letter = await waitFor("the dead letter", () => deadLetterOf(db.handle.db, jobId));
    toggleBroken = false;
    const { rows } = await sql<{ id: string }>`select pgmill.retry_dead_letter(${letter.id}::bigint) as id`.execute(db.handle.db);
    const newJobId = rows[0]!.id;
    expect(newJobId).not.toBe(jobId);
    const [run] = await finalRuns(newJobId, 1);
    expect(run).toMatchObject({ task: "toggle", status: "succeeded" });
    const after = await deadLetterOf(db.handle.db, jobId);
    expect(after?.retried_as_job_id).toBe(newJobId);
    expect(after?.retried_at).toBeInstanceOf(Date);
    await expect(sql`select pgmill.retry_dead_letter(${letter.id}::bigint)`.execute(db.handle.db)).rejects.toThrow(/already retried/);
  });

  it("logs one line per attempt outcome and never the payload by default", async () => {
    const jobId = await addJobWithSql(db.handle.db, "ok", { n: 2, secret: "hunter2" });
    await finalRuns(jobId, 1);
    const line = await waitFor("the attempt log line", () =>
      running.logs.lines.find((l) => l.msg === "attempt succeeded" && l.jobId === jobId),
    );
    expect(line).toMatchObject({ task: "ok", attempt: 1, status: "succeeded" });
    expect(typeof line.durationMs).toBe("number");
    expect(running.logs.text()).not.toContain("hunter2");
    // The history table keeps the payload (the default), where psql users find it.
    expect((await runsOf(db.handle.db, jobId))[0]!.payload).toEqual({ n: 2, secret: "hunter2" });
  });
});
