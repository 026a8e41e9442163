import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { idleGaps, overlappingAttempts, type TimedAttempt } from "../support/attempt-timeline.js";
import { addJobWithSql, runsInQueue } from "../support/sql-jobs.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

/**
 * "Jobs of one named queue run one at a time", at pgmill's default engine
 * settings (local queue and batched fetches on), with two daemons sharing the
 * queue. graphile-worker 0.17.3 broke this: one batch fetch could lock several
 * jobs of a queue, which then ran at once (graphile/worker#621).
 */
const WORK_MS = 300;
/**
 * The daemons' poll interval. Finishing a queued job sends no NOTIFY, so
 * without pgmill's nudge (src/engine/queue-nudge.ts) a freed queue would wait
 * for the next poll, advancing one job per poll.
 */
const POLL_MS = 2_000;

const tasks = taskRegistry(
  defineTask({ name: "work", payload: z.object({}), handler: () => sleep(WORK_MS) }),
  // Fails its first `failures` attempts, then succeeds: a queued job that is retried.
  defineTask({
    name: "flaky",
    payload: z.object({ failures: z.number().int() }),
    handler: async ({ failures }, { job }) => {
      await sleep(WORK_MS);
      if (job.attempt <= failures) throw new Error(`attempt ${job.attempt} fails on purpose`);
    },
  }),
);

/** A fresh database with two daemons on it, at default settings but `concurrency`. */
async function twoDaemons(concurrency: string) {
  const db = await createTestDatabase();
  const settings = { PGMILL_CONCURRENCY: concurrency };
  const daemons = await Promise.all([startTestDaemon(db, tasks, { settings }), startTestDaemon(db, tasks, { settings })]);
  return { db, daemons: daemons.map((d) => d.daemon) };
}

/** The job ids of every pair of attempts that ran at the same moment (short, for failure messages). */
const overlaps = (runs: readonly TimedAttempt[]) => overlappingAttempts(runs).map(([x, y]) => [x.job_id, y.job_id]);

function succeeded(db: TestDatabase, ids: string[]) {
  return waitFor(
    `${ids.length} jobs to succeed`,
    async () => {
      const { rows } = await sql<{ n: number }>`
        select count(distinct job_id)::int as n from pgmill.job_runs where status = 'succeeded' and job_id = any(${ids}::bigint[])
      `.execute(db.handle.db);
      return rows[0]!.n === ids.length;
    },
    50_000,
    100,
  );
}

describe("a named queue across two daemons", () => {
  // Concurrent: each case has its own database and daemons.
  const name = "runs its jobs one at a time while other work runs in parallel (concurrency %s)";
  it.concurrent.for(["4", "8"])(name, { timeout: 60_000 }, async (concurrency, { expect }) => {
    const { db, daemons } = await twoDaemons(concurrency);
    // One transaction, so the jobs land (and their NOTIFY fires) at once: the first fetch sees them all.
    const ids = await db.handle.db.transaction().execute(async (trx) => {
      const added: string[] = [];
      const add = async (count: number, options: { queue?: string }) => {
        for (let i = 0; i < count; i++) added.push(await addJobWithSql(trx, "work", {}, options));
      };
      await add(16, { queue: "one-at-a-time" });
      await add(8, { queue: "another-queue" });
      await add(8, {});
      return added;
    });
    await succeeded(db, ids);
    expect(daemons.map((d) => d.state)).toEqual(["running", "running"]);

    const serial = await runsInQueue(db.handle.db, "one-at-a-time");
    const other = await runsInQueue(db.handle.db, "another-queue");
    const unqueued = await runsInQueue(db.handle.db, null);
    expect(serial.map((r) => r.status)).toEqual(Array(16).fill("succeeded"));
    expect(overlaps(serial)).toEqual([]);
    expect(overlaps(other)).toEqual([]);
    // Each queue is serial on its own, not with the other queue or with jobs in no queue.
    expect(overlaps([...serial, ...other]).length).toBeGreaterThan(0);
    expect(overlaps(unqueued).length).toBeGreaterThan(0);
    // The next job starts as the previous one ends, not at the next poll (a
    // generous bound: ~2 s per gap without the nudge); and no gap near a stall
    // (a lock left behind, the local queue's 60 s TTL).
    const gaps = idleGaps(serial).sort((x, y) => x - y);
    expect(gaps[Math.floor(gaps.length / 2)]).toBeLessThan(POLL_MS / 4);
    expect(gaps.at(-1)).toBeLessThan(POLL_MS + 2_000);
    for (const d of daemons) await d.shutdown();
  });
});

describe("a queued job that fails and is retried", () => {
  it("frees its queue for its backoff and runs again behind the jobs that were waiting; no two attempts overlap", async () => {
    const { db, daemons } = await twoDaemons("4");
    const queue = "retried";
    // One statement each, so run_at orders them: A is first in the queue.
    const a = await addJobWithSql(db.handle.db, "flaky", { failures: 1 }, { queue });
    const b = await addJobWithSql(db.handle.db, "work", {}, { queue });
    const c = await addJobWithSql(db.handle.db, "work", {}, { queue });
    await succeeded(db, [a, b, c]);

    const runs = await runsInQueue(db.handle.db, queue);
    expect(overlaps(runs)).toEqual([]);
    // graphile-worker fails A by unlocking its queue and moving A's run_at to
    // the end of its backoff; the queue runs in run_at order, so B and C (due
    // earlier) go first, whatever the timing.
    expect(runs.map((r) => [r.job_id, r.attempt, r.status])).toEqual([
      [a, 1, "failed"],
      [b, 1, "succeeded"],
      [c, 1, "succeeded"],
      [a, 2, "succeeded"],
    ]);
    for (const d of daemons) await d.shutdown();
  }, 30_000);
});
