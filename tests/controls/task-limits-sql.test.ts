import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  releaseDaemonTaskSlots,
  releaseTaskSlot,
  releaseTaskSlots,
  takeTaskLimits,
  takeTaskRate,
  takeTaskSlot,
  taskLimitUse,
} from "../../src/controls/task-limit-queries.js";
import { openDatabase, type DatabaseHandle } from "../../src/db/database.js";
import { createLoginRole } from "../support/database-roles.js";
import { addJobsAtOnce, jobInEngine } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

// The SQL of cluster-wide limits (sql/0011_limits.sql), without a daemon: jobs
// are locked the way a worker's fetch leaves them (a test fixture writing the
// engine's table; pgmill itself never does).

let db: TestDatabase;
/** Enough connections for every taker to be in flight at once. */
let wide: DatabaseHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  wide = openDatabase(db.url, { maxConnections: 24, applicationName: "pgmill-test-takers" });
});
afterAll(() => wide.close());

async function lockJobs(ids: readonly string[], lockId: string): Promise<void> {
  await sql`update graphile_worker._private_jobs set locked_by = ${lockId}, locked_at = now(), attempts = attempts + 1
             where id = any(${[...ids]}::bigint[])`.execute(db.handle.db);
}

function slotsOf(task: string) {
  return db.handle.db.selectFrom("pgmill.task_slots").selectAll().where("task", "=", task).orderBy("job_id").execute();
}

describe("concurrency slots", () => {
  it("never hands out more than the limit to concurrent takers, and queues the rest as waiters", async () => {
    const ids = await addJobsAtOnce(db.handle.db, "slots-a", 20);
    await lockJobs(ids, "worker-1");
    const answers = await Promise.all(
      ids.map((jobId) => takeTaskSlot(wide.db, { task: "slots-a", limit: 3, jobId, lockId: "worker-1", daemonId: "d1" })),
    );
    expect(answers.filter((a) => a === 0)).toHaveLength(3);
    expect(answers.filter((a) => a !== null && a > 0)).toHaveLength(17);
    expect(await slotsOf("slots-a")).toHaveLength(3);
    const waiters = await db.handle.db.selectFrom("pgmill.task_slot_waiters").select("job_id").where("task", "=", "slots-a").execute();
    expect(waiters).toHaveLength(17);
    expect((await taskLimitUse(db.handle.db, ["slots-a"]))[0]).toMatchObject({ running: 3, waiting: 17 });

    // Asked again, a job holding a slot keeps it (and counts once).
    const holder = String((await slotsOf("slots-a"))[0]!.job_id);
    expect(await takeTaskSlot(db.handle.db, { task: "slots-a", limit: 3, jobId: holder, lockId: "worker-1", daemonId: "d1" })).toBe(0);
    expect(await slotsOf("slots-a")).toHaveLength(3);
  });

  it("refuses (null) a job not locked by the asking lock, taking nothing", async () => {
    const [id] = await addJobsAtOnce(db.handle.db, "slots-b", 1);
    await lockJobs([id!], "worker-2");
    expect(await takeTaskSlot(db.handle.db, { task: "slots-b", limit: 5, jobId: id!, lockId: "someone-else", daemonId: "d1" })).toBeNull();
    expect(await slotsOf("slots-b")).toEqual([]);
  });

  it("release gives the slot back and makes the oldest parked waiter due now", async () => {
    const [running, parked] = await addJobsAtOnce(db.handle.db, "slots-c", 2);
    await lockJobs([running!, parked!], "worker-3");
    expect(await takeTaskSlot(db.handle.db, { task: "slots-c", limit: 1, jobId: running!, lockId: "worker-3", daemonId: "d1" })).toBe(0);
    expect(await takeTaskSlot(db.handle.db, { task: "slots-c", limit: 1, jobId: parked!, lockId: "worker-3", daemonId: "d1" })).toBe(1);
    // The waiter is parked as the daemon would leave it: unlocked, an hour ahead.
    await sql`update graphile_worker._private_jobs set locked_by = null, locked_at = null where id = ${parked!}::bigint`.execute(db.handle.db);
    await sql`select graphile_worker.reschedule_jobs(array[${parked!}::bigint], run_at => now() + interval '1 hour', attempts => 0)`.execute(db.handle.db);

    expect(await releaseTaskSlot(db.handle.db, running!)).toBe(1);
    expect(await slotsOf("slots-c")).toEqual([]);
    const woken = (await jobInEngine(db.handle.db, parked!))!;
    expect((woken.run_at as Date).getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    expect(woken.attempts).toBe(0);
    // Released twice (the runner and a shutdown): nothing more happens.
    expect(await releaseTaskSlot(db.handle.db, running!)).toBe(0);
  });

  it("wakes a waiter whose park request is still pending through its request, and never one held by a pause", async () => {
    const [running, pending, held] = await addJobsAtOnce(db.handle.db, "slots-d", 3);
    await lockJobs([running!, pending!, held!], "worker-4");
    expect(await takeTaskSlot(db.handle.db, { task: "slots-d", limit: 1, jobId: running!, lockId: "worker-4", daemonId: "d1" })).toBe(0);
    expect(await takeTaskSlot(db.handle.db, { task: "slots-d", limit: 1, jobId: held!, lockId: "worker-4", daemonId: "d1" })).toBe(1);
    expect(await takeTaskSlot(db.handle.db, { task: "slots-d", limit: 1, jobId: pending!, lockId: "worker-4", daemonId: "d1" })).toBe(2);
    await sql`insert into pgmill.held_jobs (job_id, task, run_at) values (${held!}::bigint, 'slots-d', now())`.execute(db.handle.db);
    await sql`insert into pgmill.job_reschedules (job_id, run_at, attempts, reason)
              values (${pending!}::bigint, now() + interval '1 hour', 0, 'concurrency')`.execute(db.handle.db);
    // The held one is the oldest waiter: skipped; the pending request is moved to now instead.
    expect(await releaseTaskSlot(db.handle.db, running!)).toBe(0);
    const request = await db.handle.db.selectFrom("pgmill.job_reschedules").selectAll().where("job_id", "=", pending!).executeTakeFirstOrThrow();
    expect((request.run_at as Date).getTime()).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("does not count a slot whose job is no longer locked by its lock (a lost release cannot leak)", async () => {
    const ids = await addJobsAtOnce(db.handle.db, "slots-e", 3);
    await lockJobs(ids, "worker-5");
    expect(await takeTaskSlot(db.handle.db, { task: "slots-e", limit: 2, jobId: ids[0]!, lockId: "worker-5", daemonId: "gone" })).toBe(0);
    expect(await takeTaskSlot(db.handle.db, { task: "slots-e", limit: 2, jobId: ids[1]!, lockId: "worker-5", daemonId: "gone" })).toBe(0);
    expect(await takeTaskSlot(db.handle.db, { task: "slots-e", limit: 2, jobId: ids[2]!, lockId: "worker-5", daemonId: "d1" })).toBeGreaterThan(0);
    // A reaper force-unlocks the first job (its daemon died) without a release: the slot stops counting at once.
    await sql`update graphile_worker._private_jobs set locked_by = null, locked_at = null where id = ${ids[0]!}::bigint`.execute(db.handle.db);
    expect((await taskLimitUse(db.handle.db, ["slots-e"]))[0]!.running).toBe(1);
    expect(await takeTaskSlot(db.handle.db, { task: "slots-e", limit: 2, jobId: ids[2]!, lockId: "worker-5", daemonId: "d1" })).toBe(0);
    expect((await slotsOf("slots-e")).map((s) => String(s.job_id))).toEqual([ids[1], ids[2]]);
  });

  it("frees every slot of given daemons (the reaper, a shutdown)", async () => {
    const ids = await addJobsAtOnce(db.handle.db, "slots-f", 3);
    await lockJobs(ids, "worker-6");
    for (const [i, jobId] of ids.entries()) {
      await takeTaskSlot(db.handle.db, { task: "slots-f", limit: 5, jobId, lockId: "worker-6", daemonId: i < 2 ? "dead-1" : "alive" });
    }
    await releaseDaemonTaskSlots(db.handle.db, ["dead-1"]);
    expect((await slotsOf("slots-f")).map((s) => s.daemon_id)).toEqual(["alive"]);
  });

  it("rejects a limit below 1 with a clear error", async () => {
    await expect(takeTaskSlot(db.handle.db, { task: "slots-g", limit: 0, jobId: "1", lockId: "x", daemonId: "d" })).rejects.toThrow(/slot_limit must be at least 1/);
  });
});

describe("rate windows", () => {
  it("admits exactly max starts per fixed window to concurrent takers, and spreads the refused over the next windows", async () => {
    // Start just after a window boundary, so all takers fall in one 2 s window.
    const perMs = 2000;
    await new Promise((r) => setTimeout(r, perMs - (Date.now() % perMs) + 20));
    const answers = await Promise.all(Array.from({ length: 14 }, () => takeTaskRate(wide.db, { task: "rate-a", max: 5, perMs })));
    const admitted = answers.filter((a) => a === null);
    expect(admitted).toHaveLength(5);
    const windowEnd = (Math.floor(Date.now() / perMs) + 1) * perMs;
    const retries = answers.filter((a): a is Date => a !== null).map((a) => a.getTime()).sort((a, b) => a - b);
    // The first 5 refused come back at the next window, the next 4 at the one after.
    expect(retries).toEqual([...Array(5).fill(windowEnd), ...Array(4).fill(windowEnd + perMs)]);
    const row = await db.handle.db.selectFrom("pgmill.task_rate_windows").selectAll().where("task", "=", "rate-a").executeTakeFirstOrThrow();
    expect(row).toMatchObject({ started: 5, refused: 9 });
    expect((row.window_start as Date).getTime()).toBe(windowEnd - perMs);

    // The next window starts afresh.
    await new Promise((r) => setTimeout(r, windowEnd - Date.now() + 20));
    expect(await takeTaskRate(db.handle.db, { task: "rate-a", max: 5, perMs })).toBeNull();
    const next = await db.handle.db.selectFrom("pgmill.task_rate_windows").selectAll().where("task", "=", "rate-a").executeTakeFirstOrThrow();
    expect(next).toMatchObject({ started: 1, refused: 0 });
  });

  it("rejects a bad max or window with a clear error", async () => {
    await expect(takeTaskRate(db.handle.db, { task: "rate-b", max: 0, perMs: 1000 })).rejects.toThrow(/max_starts must be at least 1/);
    await expect(takeTaskRate(db.handle.db, { task: "rate-b", max: 1, perMs: 0 })).rejects.toThrow(/per_seconds positive/);
  });
});

describe("as the least-privilege runtime role", () => {
  it("takes, releases and reads slots and rate windows with only what grant_runtime gave it", async () => {
    // The role first, then its database: cleanup drops the database (and the grants in it) before the role.
    const runtime = await createLoginRole("pgmill_limits_rt");
    const own = await createTestDatabase();
    await sql`select pgmill.grant_runtime(${runtime.name})`.execute(own.handle.db);
    const asRuntime = openDatabase(runtime.url(own.name), { maxConnections: 2, applicationName: "pgmill-test-runtime" });
    try {
      const ids = await addJobsAtOnce(own.handle.db, "rt", 2);
      await sql`update graphile_worker._private_jobs set locked_by = 'rt-worker', locked_at = now() where id = any(${ids}::bigint[])`.execute(own.handle.db);
      expect(await takeTaskSlot(asRuntime.db, { task: "rt", limit: 1, jobId: ids[0]!, lockId: "rt-worker", daemonId: "d" })).toBe(0);
      expect(await takeTaskSlot(asRuntime.db, { task: "rt", limit: 1, jobId: ids[1]!, lockId: "rt-worker", daemonId: "d" })).toBe(1);
      expect((await taskLimitUse(asRuntime.db, ["rt"]))[0]).toMatchObject({ running: 1, waiting: 1 });
      expect(await releaseTaskSlot(asRuntime.db, ids[0]!)).toBe(0);
      await takeTaskSlot(asRuntime.db, { task: "rt", limit: 1, jobId: ids[1]!, lockId: "rt-worker", daemonId: "d" });
      await releaseDaemonTaskSlots(asRuntime.db, ["d"]);
      expect(await takeTaskRate(asRuntime.db, { task: "rt", max: 1, perMs: 60_000 })).toBeNull();
      expect(await takeTaskRate(asRuntime.db, { task: "rt", max: 1, perMs: 60_000 })).toBeInstanceOf(Date);
    } finally {
      await asRuntime.close();
    }
  });

  it("cannot be called by a role that was not granted it", async () => {
    const stranger = await createLoginRole("pgmill_limits_none");
    const own = await createTestDatabase();
    const asStranger = openDatabase(stranger.url(own.name), { maxConnections: 1, applicationName: "pgmill-test-stranger" });
    try {
      await expect(takeTaskRate(asStranger.db, { task: "x", max: 1, perMs: 1000 })).rejects.toThrow(/permission denied/);
    } finally {
      await asStranger.close();
    }
  });
});

describe("batched takes (what daemons call)", () => {
  it("answers each job as the single-job functions would: slots up to the limit, waiters, rate starts, the lock checked", async () => {
    const ids = await addJobsAtOnce(db.handle.db, "batch-a", 6);
    const [other] = await addJobsAtOnce(db.handle.db, "batch-b", 1);
    await lockJobs([...ids, other!], "worker-b");
    const takes = [
      ...ids.map((jobId) => ({ task: "batch-a", jobId, lockId: "worker-b", concurrency: 4, rate: { max: 3, perMs: 60_000 } })),
      { task: "batch-b", jobId: other!, lockId: "not-its-lock", concurrency: 1, rate: null },
    ];
    const answers = await takeTaskLimits(wide.db, "d-batch", takes);
    // 4 slots; of those 3 rate starts, so the 4th gives its slot back; 2 wait for a slot; the last is not ours.
    expect(answers.slice(0, 3)).toEqual(Array(3).fill({ waiting: 0, retryAt: null }));
    expect(answers[3]).toMatchObject({ waiting: 0, retryAt: expect.any(Date) });
    expect(answers[4]).toEqual({ waiting: 2, retryAt: null });
    expect(answers[5]).toEqual({ waiting: 2, retryAt: null });
    expect(answers[6]).toEqual({ waiting: null, retryAt: null });
    expect((await slotsOf("batch-a")).map((s) => String(s.job_id))).toEqual(ids.slice(0, 3));
    expect(await slotsOf("batch-b")).toEqual([]);

    // Concurrent batches never exceed the limit either.
    const more = await addJobsAtOnce(db.handle.db, "batch-c", 40);
    await lockJobs(more, "worker-c");
    const groups = [0, 1, 2, 3].map((g) => more.filter((_, i) => i % 4 === g));
    const results = await Promise.all(
      groups.map((group) => takeTaskLimits(wide.db, "d-batch", group.map((jobId) => ({ task: "batch-c", jobId, lockId: "worker-c", concurrency: 5, rate: null })))),
    );
    expect(results.flat().filter((a) => a.waiting === 0)).toHaveLength(5);
    expect(await slotsOf("batch-c")).toHaveLength(5);

    // Released together: the slots go, and as many waiters are woken as slots freed.
    const holders = (await slotsOf("batch-c")).map((s) => String(s.job_id));
    await sql`update graphile_worker._private_jobs set locked_by = null, locked_at = null where id = any(${more.filter((id) => !holders.includes(id))}::bigint[])`.execute(db.handle.db);
    expect(await releaseTaskSlots(db.handle.db, holders)).toBe(5);
    expect(await slotsOf("batch-c")).toEqual([]);
  });
});
