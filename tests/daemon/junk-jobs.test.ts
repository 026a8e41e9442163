import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { logMessageTask } from "../../src/tasks/log-message.js";
import { expectJson, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { addJobWithSql, deadLetterOf, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { serveTestDaemon, type ServedTestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Junk inserted with plain SQL, the way any application can: every job gets a
 * defined outcome, and the daemon keeps serving throughout.
 */
const received: unknown[] = [];
const runAts = new Map<string, unknown>();
const tasks = taskRegistry(
  defineTask({
    name: "strict",
    payload: z.object({ name: z.string(), count: z.number().int() }),
    handler: async (payload, { job }) => {
      received.push(payload);
      runAts.set(job.id, job.runAt);
    },
  }),
  defineTask({ name: "bulk", payload: z.object({ blob: z.string() }), handler: async () => undefined }),
  defineTask({ name: "ok", payload: z.object({}), handler: async () => undefined }),
  // Shared with the CLI's own build, so `pgmill status` and this daemon agree on it.
  logMessageTask,
);

let db: TestDatabase;
let served: ServedTestDaemon;

beforeAll(async () => {
  db = await createTestDatabase();
  served = await serveTestDaemon(db, tasks);
});

const engineDb = () => db.handle.db;

async function deadLetterFor(jobId: string) {
  return waitFor(`a dead letter for job ${jobId}`, () => deadLetterOf(engineDb(), jobId));
}

/** Resolves when the job has left graphile-worker with a history row: its outcome is final. */
async function settled(jobId: string) {
  return waitFor(`job ${jobId} to finish`, async () => {
    const runs = await runsOf(engineDb(), jobId);
    return runs.length > 0 && !(await jobInEngine(engineDb(), jobId)) ? runs : null;
  });
}

async function metrics(): Promise<string> {
  return (await fetch(`${served.baseUrl}/metrics`)).text();
}

function metric(text: string, series: string): number | undefined {
  const match = new RegExp(`^${series.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : undefined;
}

describe("payloads that do not fit the task", () => {
  it.each([
    ["a number", 3, "expected object, received number"],
    ["a string", "hello", "expected object, received string"],
    ["an array", [1, 2], "expected object, received array"],
    ["JSON null", null, "expected object, received null"],
  ])("%s becomes a dead letter (invalid_payload) saying what it got", async (_what, payload, message) => {
    const jobId = await addJobWithSql(engineDb(), "strict", payload);
    const letter = await deadLetterFor(jobId);
    expect(letter).toMatchObject({ reason: "invalid_payload", task: "strict", payload });
    expect(letter.last_error).toContain("payload does not match task strict");
    expect(letter.last_error).toContain(message);
    const [run] = await settled(jobId);
    expect(run).toMatchObject({ status: "dead", attempt: 1 });
  });

  it("wrong types are dead-lettered with each field named", async () => {
    const jobId = await addJobWithSql(engineDb(), "strict", { name: 5, count: "many" });
    const letter = await deadLetterFor(jobId);
    expect(letter.reason).toBe("invalid_payload");
    expect(letter.last_error).toMatch(/expected string, received number;\s*→ at name/);
    expect(letter.last_error).toMatch(/expected number, received string;\s*→ at count/);
    expect(received).not.toContainEqual(expect.objectContaining({ name: 5 }));
  });

  it("SQL NULL is graphile-worker's empty object: dead-lettered naming the missing fields", async () => {
    const { rows } = await sql<{ id: string }>`select (graphile_worker.add_job('strict', null)).id`.execute(engineDb());
    const letter = await deadLetterFor(rows[0]!.id);
    expect(letter).toMatchObject({ reason: "invalid_payload", payload: {} });
    expect(letter.last_error).toMatch(/→ at name/);
    expect(letter.last_error).toMatch(/→ at count/);
  });
});

describe("a multi-megabyte payload", () => {
  const FIVE_MB = 5 * 1024 * 1024;

  it("runs, and its history row keeps the whole payload", async () => {
    const jobId = await addJobWithSql(engineDb(), "bulk", { blob: "x".repeat(FIVE_MB) });
    const [run] = await settled(jobId);
    expect(run?.status).toBe("succeeded");
    const { rows } = await sql<{ bytes: number }>`
      select octet_length(payload->>'blob')::int as bytes from pgmill.job_runs where job_id = ${jobId}
    `.execute(engineDb());
    expect(rows[0]?.bytes).toBe(FIVE_MB);
  }, 60_000);

  it("that fails its schema becomes a dead letter holding the whole payload, ready to retry", async () => {
    const jobId = await addJobWithSql(engineDb(), "bulk", { blob: 42, padding: "y".repeat(FIVE_MB) });
    const letter = await deadLetterFor(jobId);
    expect(letter.reason).toBe("invalid_payload");
    expect(letter.last_error).toMatch(/→ at blob/);
    expect((letter.payload as { padding: string }).padding).toHaveLength(FIVE_MB);
  }, 60_000);
});

describe("a payload nested deeper than JSON.stringify can recurse", () => {
  const deep = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

  it("runs, and the ledger keeps its history row (other jobs keep flowing)", async () => {
    const { rows } = await sql<{ id: string }>`
      select (graphile_worker.add_job('strict', ${`{"name": "deep", "count": 1, "deep": ${deep(10_000)}}`}::json)).id
    `.execute(engineDb());
    const jobId = rows[0]!.id;
    const [run] = await settled(jobId);
    expect(run?.status).toBe("succeeded");
    const { rows: stored } = await sql<{ deep: string }>`
      select payload->'deep' #>> '{}' as deep from pgmill.job_runs where job_id = ${jobId}
    `.execute(engineDb());
    expect(stored[0]?.deep.replaceAll(" ", "")).toBe(deep(10_000));
    const after = await addJobWithSql(engineDb(), "ok", {});
    expect((await settled(after))[0]?.status).toBe("succeeded");
  });

  it("that fails its schema becomes a dead letter", async () => {
    const { rows } = await sql<{ id: string }>`
      select (graphile_worker.add_job('strict', ${deep(10_000)}::json)).id
    `.execute(engineDb());
    const letter = await deadLetterFor(rows[0]!.id);
    expect(letter).toMatchObject({ reason: "invalid_payload" });
    expect(letter.last_error).toContain("expected object, received array");
    const { rows: kept } = await sql<{ payload: string }>`
      select payload::text as payload from pgmill.dead_letters where job_id = ${rows[0]!.id}
    `.execute(engineDb());
    expect(kept[0]?.payload.replaceAll(" ", "")).toBe(deep(10_000));
  });
});

describe("tasks no daemon handles", () => {
  it("stay queued, counted in pgmill_jobs_without_handler (no series per junk name), and named by pgmill status", async () => {
    for (let i = 0; i < 3; i++) await addJobWithSql(engineDb(), "no-such-task", { i });
    await addJobWithSql(engineDb(), "", {});
    await addJobWithSql(engineDb(), 'weird "name"\n{}', {});

    const text = await waitFor(
      "the gauge to count them",
      async () => {
        const body = await metrics();
        return metric(body, "pgmill_jobs_without_handler") === 5 ? body : null;
      },
      20_000,
      500,
    );
    expect(text).not.toContain("no-such-task");
    expect(text).not.toContain("weird");
    expect(metric(text, 'pgmill_queue_jobs{task="strict",state="ready"}')).toBe(0);

    const status = expectJson<{ jobs: { task: string; state: string; jobs: string }[] }>(
      await runCli(["status", "--json"], { databaseUrl: db.url }),
    );
    expect(status.jobs).toEqual(
      expect.arrayContaining([
        { task: "no-such-task", state: "no handler", jobs: "3" },
        { task: "", state: "no handler", jobs: "1" },
        { task: 'weird "name"\n{}', state: "no handler", jobs: "1" },
      ]),
    );
    const table = await runCli(["status"], { databaseUrl: db.url });
    expect(table.stdout).toContain("no handler: 3 jobs of task 'no-such-task'");
    // Nothing of theirs ran or died.
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pgmill.job_runs where task in ('no-such-task', '')
    `.execute(engineDb());
    expect(rows[0]?.n).toBe(0);
  }, SLOW_CLI_TIMEOUT);

  it("task names graphile-worker cannot store are refused by add_job itself", async () => {
    await expect(addJobWithSql(engineDb(), "t".repeat(129), {})).rejects.toThrow(/tasks_identifier_check/);
  });
});

describe("absurd run_at", () => {
  const farFuture: string[] = [];

  it.each([
    ["year 9999", "9999-12-31T00:00:00Z"],
    ["infinity", "infinity"],
  ])("%s stays scheduled while due jobs run", async (_what, runAt) => {
    const jobId = await addJobWithSql(engineDb(), "log-message", { message: "later" }, { runAt });
    farFuture.push(jobId);
    const probe = await addJobWithSql(engineDb(), "log-message", { message: "now" });
    await settled(probe);
    expect(await jobInEngine(engineDb(), jobId)).toBeDefined();
    expect(await runsOf(engineDb(), jobId)).toEqual([]);
  });

  it("both show as scheduled in pgmill status and in pgmill_queue_jobs", async () => {
    expect(farFuture).toHaveLength(2);
    const status = expectJson<{ jobs: { task: string; state: string; jobs: string }[] }>(
      await runCli(["status", "--json"], { databaseUrl: db.url }),
    );
    expect(status.jobs).toContainEqual({ task: "log-message", state: "scheduled", jobs: "2" });
    await waitFor(
      "the scheduled gauge",
      async () => metric(await metrics(), 'pgmill_queue_jobs{task="log-message",state="scheduled"}') === 2,
      20_000,
      500,
    );
  }, SLOW_CLI_TIMEOUT);

  it.each([
    ["-infinity", "-infinity", -8.64e15],
    ["1970", "1970-01-01T00:00:00Z", 0],
  ])("%s is simply due: the job runs, its handler gets a Date", async (_what, runAt, time) => {
    const jobId = await addJobWithSql(engineDb(), "strict", { name: "past", count: 1 }, { runAt });
    const [run] = await settled(jobId);
    expect(run?.status).toBe("succeeded");
    // node-postgres reads -infinity as a number; handlers are promised a Date (the earliest there is).
    const seen = runAts.get(jobId);
    expect(seen).toBeInstanceOf(Date);
    expect((seen as Date).getTime()).toBe(time);
  });

  it("past the timestamp range, add_job refuses it", async () => {
    await expect(addJobWithSql(engineDb(), "ok", {}, { runAt: "294277-01-01" })).rejects.toThrow(/timestamp out of range/);
  });
});

describe("absurd max_attempts", () => {
  it.each([
    ["0", 0, /jobs_max_attempts_check/],
    ["negative", -3, /jobs_max_attempts_check/],
    ["32768", 32_768, /smallint out of range/],
    ["2^31-1", 2_147_483_647, /smallint out of range/],
  ])("%s is refused by add_job with an SQL error", async (_what, maxAttempts, message) => {
    await expect(addJobWithSql(engineDb(), "ok", {}, { maxAttempts })).rejects.toThrow(message);
  });

  it("32767 is accepted and the job runs", async () => {
    const jobId = await addJobWithSql(engineDb(), "strict", { name: "many", count: 2 }, { maxAttempts: 32_767 });
    const [run] = await settled(jobId);
    expect(run).toMatchObject({ status: "succeeded", max_attempts: 32_767 });
  });

  it("add_jobs refuses the whole batch when one spec is out of range, and inserts none", async () => {
    const batch = sql`
      select graphile_worker.add_jobs(array[
        ('ok', '{}'::json, null, null, 5::smallint, 'batch-a', null, null)::graphile_worker.job_spec,
        ('ok', '{}'::json, null, null, 0::smallint, 'batch-b', null, null)::graphile_worker.job_spec
      ])
    `;
    await expect(batch.execute(engineDb())).rejects.toThrow(/jobs_max_attempts_check/);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from graphile_worker.jobs where key in ('batch-a', 'batch-b')
    `.execute(engineDb());
    expect(rows[0]?.n).toBe(0);
  });
});

describe("other options out of graphile-worker's range", () => {
  it.each([
    ["priority 40000", sql`select graphile_worker.add_job('ok', '{}'::json, priority => 40000)`, /smallint out of range/],
    ["an empty job_key", sql`select graphile_worker.add_job('ok', '{}'::json, job_key => '')`, /jobs_key_check/],
    ["a 513-character job_key", sql`select graphile_worker.add_job('ok', '{}'::json, job_key => repeat('k', 513))`, /jobs_key_check/],
    ["a 129-character queue", sql`select graphile_worker.add_job('ok', '{}'::json, queue_name => repeat('q', 129))`, /job_queues_queue_name_check/],
    ["an unknown job_key_mode", sql`select graphile_worker.add_job('ok', '{}'::json, job_key => 'k', job_key_mode => 'bogus')`, /Invalid job_key_mode/],
  ])("%s is refused by add_job with an SQL error", async (_what, statement, message) => {
    await expect(statement.execute(engineDb())).rejects.toThrow(message);
  });
});

describe("after all the junk", () => {
  it("the daemon still runs a normal job and reports ready", async () => {
    const jobId = await addJobWithSql(engineDb(), "strict", { name: "after", count: 3 });
    const [run] = await settled(jobId);
    expect(run?.status).toBe("succeeded");
    expect(received).toContainEqual({ name: "after", count: 3 });
    const ready = await fetch(`${served.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(served.daemon.state).toBe("running");
  });
});
