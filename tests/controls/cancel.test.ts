import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { JobCancelledError, PermanentError, defineTask } from "../../src/index.js";
import { cancelJob } from "../../src/controls/cancel-queries.js";
import type { CancelledState } from "../../src/daemon/daemon-events.js";
import { RUN_STATUSES } from "../../src/db/schema.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { addJobWithSql, deadLetterOf, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { waitFor } from "../support/wait-for.js";

// Two daemons on one database: a cancel reaches whichever one runs the job.

/** Job id -> when its handler started, and when (and why) its signal aborted. */
const started = new Map<string, number>();
const aborted = new Map<string, { at: number; reason: unknown }>();
/** Handlers that ignore their signal end when the test says so. */
const releases = new Map<string, () => void>();

function noteAbort(id: string, signal: AbortSignal): void {
  const note = () => aborted.set(id, { at: Date.now(), reason: signal.reason });
  if (signal.aborted) note();
  else signal.addEventListener("abort", note, { once: true });
}

/** Ends when released; notes the abort but does not act on it. */
async function ignoring(id: string, signal: AbortSignal): Promise<void> {
  started.set(id, Date.now());
  noteAbort(id, signal);
  await new Promise<void>((resolve) => releases.set(id, resolve));
}

const tasks = taskRegistry(
  // Honours its signal: throws its reason as soon as it aborts.
  defineTask({
    name: "waits",
    payload: z.object({}),
    handler: async (_payload, { signal, job }) => {
      started.set(job.id, Date.now());
      noteAbort(job.id, signal);
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      throw signal.reason;
    },
  }),
  defineTask({ name: "ignores", payload: z.object({}), handler: (_payload, { signal, job }) => ignoring(job.id, signal) }),
  defineTask({ name: "quick", payload: z.object({}), handler: async (_payload, { job }) => void started.set(job.id, Date.now()) }),
  defineTask({
    name: "flaky",
    payload: z.object({}),
    handler: async (_payload, { job }) => {
      started.set(job.id, Date.now());
      throw new Error("flaky fails");
    },
  }),
  defineTask({
    name: "doomed",
    payload: z.object({}),
    handler: async () => {
      throw new PermanentError("never works");
    },
  }),
);

let db: TestDatabase;
let a: TestDaemon;
let b: TestDaemon;
const counted: { daemon: string; task: string; state: CancelledState }[] = [];

// Short beats, so a dead peer is reaped within seconds.
const SETTINGS = { PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "3" } as const;

beforeAll(async () => {
  db = await createTestDatabase();
  a = await startTestDaemon(db, tasks, { settings: SETTINGS });
  b = await startTestDaemon(db, tasks, { settings: SETTINGS });
  for (const { daemon } of [a, b]) daemon.events.on("job:cancelled", (task, state) => counted.push({ daemon: daemon.id, task, state }));
});

const cancel = (id: string) => cancelJob(db.handle.db, id);

function requestsOf(id: string) {
  return db.handle.db.selectFrom("pgmill.cancel_requests").selectAll().where("job_id", "=", id).execute();
}

async function rowsWhenSettled(id: string, count = 1) {
  return waitFor(`${count} history row(s) of job ${id}`, async () => {
    const runs = await runsOf(db.handle.db, id);
    return runs.length >= count ? runs : null;
  });
}

/** Once a cancelled job is gone: it stays gone and its history keeps exactly `count` rows. */
async function expectGoneForGood(id: string, count = 1) {
  await waitFor(`job ${id} to leave graphile-worker`, async () => (await jobInEngine(db.handle.db, id)) === undefined);
  await waitFor(`the cancel request of job ${id} to be forgotten`, async () => (await requestsOf(id)).length === 0);
  expect(await deadLetterOf(db.handle.db, id)).toBeUndefined();
  expect(await runsOf(db.handle.db, id)).toHaveLength(count);
}

describe("cancelling a queued job", () => {
  it("removes it with a cancelled row, and no attempt runs; the removal is counted once", async () => {
    const id = await addJobWithSql(db.handle.db, "quick", {}, { runAt: "infinity" });
    expect(await cancel(id)).toBe("cancelled");
    expect(await jobInEngine(db.handle.db, id)).toBeUndefined();
    const runs = await runsOf(db.handle.db, id);
    expect(runs).toEqual([
      expect.objectContaining({ status: "cancelled", attempt: 1, daemon_id: "pgmill.cancel_job", duration_ms: 0, payload: null }),
    ]);
    expect(runs[0]!.error_message).toMatch(/^cancelled while queued, by /);
    await waitFor("a daemon to count the removal", () => counted.some((c) => c.task === "quick" && c.state === "queued"));
    await expectGoneForGood(id);
    expect(started.has(id)).toBe(false);
    expect(counted.filter((c) => c.task === "quick")).toHaveLength(1);
  });

  it("a job waiting for its retry gets the row of the attempt that will not run", async () => {
    const id = await addJobWithSql(db.handle.db, "flaky", {}, { maxAttempts: 5 });
    const [first] = await rowsWhenSettled(id);
    expect(first).toMatchObject({ status: "failed", attempt: 1 });
    await waitFor("the engine to release it for its retry", async () => (await jobInEngine(db.handle.db, id))?.locked_at === null);
    // graphile-worker's backoff keeps it queued for a few seconds.
    expect(await cancel(id)).toBe("cancelled");
    expect((await runsOf(db.handle.db, id)).map((r) => [r.attempt, r.status])).toEqual([
      [1, "failed"],
      [2, "cancelled"],
    ]);
    await expectGoneForGood(id, 2);
  });

  it("a request left on a job that runs nowhere (its attempt ended first) is settled by the daemons", async () => {
    const id = await addJobWithSql(db.handle.db, "quick", {}, { runAt: "infinity" });
    // What cancel_job leaves when the job was locked: its attempt then failed before a daemon saw the request.
    await db.handle.db.insertInto("pgmill.cancel_requests").values({ job_id: id, task: "quick", state: "requested" }).execute();
    const [row] = await rowsWhenSettled(id);
    expect(row).toMatchObject({ status: "cancelled", attempt: 1, daemon_id: "pgmill.cancel_job" });
    await expectGoneForGood(id);
    expect(started.has(id)).toBe(false);
  });
});

describe("cancelling a running job", () => {
  it("aborts its signal within a second on the daemon running it; recorded cancelled, completed, not retried", async () => {
    const id = await addJobWithSql(db.handle.db, "waits", {}, { maxAttempts: 5 });
    await waitFor("its handler to start", () => started.has(id));
    const before = Date.now();
    expect(await cancel(id)).toBe("cancelling");
    expect(await cancel(id), "asking again changes nothing").toBe("cancelling");
    const [row] = await rowsWhenSettled(id);
    const abort = aborted.get(id)!;
    expect(abort.reason).toBeInstanceOf(JobCancelledError);
    expect(abort.at - before).toBeLessThan(1_000);
    const runner = [a, b].find((d) => d.daemon.id === row!.daemon_id);
    expect(runner, "recorded by one of the two daemons").toBeDefined();
    expect(row).toMatchObject({ status: "cancelled", attempt: 1 });
    expect(row!.error_message).toMatch(/^cancelled by \S+ at .* \(pgmill\.cancel_job\); its handler threw after the abort$/);
    await expectGoneForGood(id);
    expect(counted.filter((c) => c.task === "waits")).toEqual([{ daemon: runner!.daemon.id, task: "waits", state: "running" }]);
    // Not a failure of the task: task stats and recent failures leave it out.
    const stats = await db.handle.db.selectFrom("pgmill.task_stats").selectAll().where("task", "=", "waits").executeTakeFirstOrThrow();
    expect(stats).toMatchObject({ runs: "1", succeeded: "0", failed: "0", success_rate: null, last_failure: null });
    const failures = await sql<{ job_id: string }>`select job_id from pgmill.recent_failures where job_id = ${id}::bigint`.execute(db.handle.db);
    expect(failures.rows).toEqual([]);
  });

  it("a handler that ignores its signal ends the attempt when it returns, still recorded cancelled", async () => {
    const id = await addJobWithSql(db.handle.db, "ignores", {});
    await waitFor("its handler to start", () => started.has(id));
    expect(await cancel(id)).toBe("cancelling");
    await waitFor("its signal to abort", () => aborted.has(id), 5_000);
    expect(aborted.get(id)!.reason).toBeInstanceOf(JobCancelledError);
    expect(await runsOf(db.handle.db, id), "no row while the handler runs on").toEqual([]);
    expect(await jobInEngine(db.handle.db, id)).toMatchObject({ locked_at: expect.any(Date) });
    releases.get(id)!();
    const [row] = await rowsWhenSettled(id);
    expect(row).toMatchObject({ status: "cancelled", attempt: 1 });
    expect(row!.error_message).toMatch(/its handler returned after the abort$/);
    await expectGoneForGood(id);
  });

  it("a job locked by a dead daemon: cancelling, then its attempt is recorded cancelled (not lost) when a peer reaps it", async () => {
    await db.handle.db
      .insertInto("pgmill.daemons")
      .values({ id: "ghost", host: "gone", pid: 1, version: "0", state: "running", jobs_in_flight: 1, worker_ids: ["ghost-worker"] })
      .execute();
    // Added and locked in one transaction, so no live daemon claims it first (as a crash leaves it).
    const id = await db.handle.db.transaction().execute(async (trx) => {
      const jobId = await addJobWithSql(trx, "quick", {}, { runAt: "infinity" });
      await sql`
        update graphile_worker._private_jobs set locked_by = 'ghost-worker', locked_at = now(), attempts = 1, run_at = now()
         where id = ${jobId}::bigint
      `.execute(trx);
      return jobId;
    });
    expect(await cancel(id)).toBe("cancelling");
    await db.handle.db.updateTable("pgmill.daemons").set({ last_seen: new Date(Date.now() - 3_600_000) }).where("id", "=", "ghost").execute();
    const [row] = await rowsWhenSettled(id);
    expect(row).toMatchObject({ status: "cancelled", attempt: 1, daemon_id: "ghost" });
    expect(row!.error_message).toMatch(/^cancelled by .*; daemon ghost on gone stopped heartbeating/);
    await expectGoneForGood(id);
    expect(started.has(id), "never run again").toBe(false);
  });
});

describe("nothing to cancel", () => {
  it("finished, dead letter, not found; a null id is refused", async () => {
    const done = await addJobWithSql(db.handle.db, "quick", {});
    await rowsWhenSettled(done);
    await waitFor("the finished job to be completed", async () => (await jobInEngine(db.handle.db, done)) === undefined);
    expect(await cancel(done)).toBe("finished");

    const dead = await addJobWithSql(db.handle.db, "doomed", {});
    await waitFor("its dead letter", () => deadLetterOf(db.handle.db, dead));
    await waitFor("the dead job to leave graphile-worker", async () => (await jobInEngine(db.handle.db, dead)) === undefined);
    expect(await cancel(dead)).toBe("dead_letter");

    expect(await cancel("9000000000000000")).toBe("not_found");
    await expect(sql`select pgmill.cancel_job(null)`.execute(db.handle.db)).rejects.toThrow(/job_id must not be null/);
    // None of these left a request or a row behind.
    expect(await requestsOf(done)).toEqual([]);
    expect(await runsOf(db.handle.db, done)).toHaveLength(1);
    expect(await runsOf(db.handle.db, dead)).toHaveLength(1);
  });
});

describe("cancelling during a graceful shutdown: one row per attempt", () => {
  it("while draining: the watcher still runs, and the attempt gets a single cancelled row", async () => {
    const draining = await startTestDaemon(
      db,
      taskRegistry(defineTask({ name: "drain-ignores", payload: z.object({}), handler: (_p, { signal, job }) => ignoring(job.id, signal) })),
      { settings: { ...SETTINGS, PGMILL_SHUTDOWN_TIMEOUT: "30" } },
    );
    const id = await addJobWithSql(db.handle.db, "drain-ignores", {});
    await waitFor("its handler to start", () => started.has(id));
    const stopped = draining.daemon.shutdown();
    await waitFor("the daemon to drain", () => draining.daemon.state === "draining");
    expect(await cancel(id)).toBe("cancelling");
    await waitFor("its signal to abort", () => aborted.has(id), 5_000);
    releases.get(id)!();
    await stopped;
    const runs = await runsOf(db.handle.db, id);
    expect(runs.map((r) => [r.status, r.daemon_id])).toEqual([["cancelled", draining.daemon.id]]);
    await expectGoneForGood(id);
  });

  it("past the drain budget: the abandoned attempt is recorded cancelled, not failed, and its job removed, not released", async () => {
    const abandoning = await startTestDaemon(
      db,
      taskRegistry(defineTask({ name: "never-settles", payload: z.object({}), handler: (_p, { signal, job }) => ignoring(job.id, signal) })),
      { settings: { ...SETTINGS, PGMILL_SHUTDOWN_TIMEOUT: "1" } },
    );
    const id = await addJobWithSql(db.handle.db, "never-settles", {}, { maxAttempts: 5 });
    await waitFor("its handler to start", () => started.has(id));
    const stopped = abandoning.daemon.shutdown();
    await waitFor("the daemon to drain", () => abandoning.daemon.state === "draining");
    expect(await cancel(id)).toBe("cancelling");
    await waitFor("its signal to abort", () => aborted.has(id), 5_000);
    await stopped;
    const runs = await runsOf(db.handle.db, id);
    expect(runs.map((r) => [r.status, r.attempt])).toEqual([["cancelled", 1]]);
    expect(runs[0]!.error_message).toMatch(/the daemon shut down before its handler settled$/);
    await expectGoneForGood(id);
    // The handler settling now, after the daemon stopped, writes nothing more.
    releases.get(id)!();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await runsOf(db.handle.db, id)).toHaveLength(1);
  }, 60_000);
});

describe("the run statuses", () => {
  it("are one list: the job_runs check (on every partition) accepts exactly RUN_STATUSES, cancelled included", async () => {
    const { rows } = await sql<{ relation: string; definition: string }>`
      select conrelid::regclass::text as relation, pg_get_constraintdef(oid) as definition
        from pg_constraint where conname = 'job_runs_status_check'
    `.execute(db.handle.db);
    expect(rows.length).toBeGreaterThan(2);
    for (const { relation, definition } of rows) {
      const statuses = [...definition.matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]);
      expect(new Set(statuses), relation).toEqual(new Set(RUN_STATUSES));
    }
  });
});
