import { EventEmitter } from "node:events";
import { Logger, run, type Runner, type WorkerEvents } from "graphile-worker";
import { sql } from "kysely";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { engineOptions } from "../../src/engine/engine-options.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { captureLogs } from "../support/log-capture.js";
import { addJobsAtOnce, addJobWithSql } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// Guards on graphile-worker itself, one per engine behaviour pgmill works
// around in src/engine/. Each asserts the behaviour is STILL there: when an
// engine upgrade fixes it, the guard fails, and the workaround it names can go
// (then keep the guard, inverted, as a test that the fix holds).

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

const quiet = new Logger(() => () => undefined);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** graphile-worker alone (no pgmill around it), recording the ids of the jobs it runs. */
async function startEngine(
  worker: Record<string, unknown>,
  ran: string[],
  { events = new EventEmitter() as WorkerEvents, logger = quiet } = {},
): Promise<Runner> {
  const runner = await run({
    connectionString: db.url,
    taskList: { quirk: async (_payload, helpers) => void ran.push(helpers.job.id) },
    events,
    logger,
    noHandleSignals: true,
    parsedCronItems: [],
    preset: { worker: { concurrentJobs: 2, ...worker } },
  });
  onFileCleanup(() => runner.stop().catch(() => undefined));
  return runner;
}

describe("graphile-worker behaviours pgmill works around", () => {
  it("localQueue.refetchDelay swallows a new-job NOTIFY: the job waits for the next poll (src/engine/engine-options.ts sets no refetchDelay)", async () => {
    const events = new EventEmitter() as WorkerEvents;
    const delayed = new Promise<void>((resolve) => events.once("localQueue:refetchDelay:start", () => resolve()));
    const expired = new Promise<void>((resolve) => events.once("localQueue:refetchDelay:expired", () => resolve()));
    const ran: string[] = [];
    const runner = await startEngine(
      // The first fetch finds nothing, so the delay starts; a 20 s poll is far off.
      { pollInterval: 20_000, localQueue: { size: 4, refetchDelay: { durationMs: 1_000, maxAbortThreshold: Infinity } } },
      ran,
      { events },
    );
    await delayed;
    const jobId = await addJobWithSql(db.handle.db, "quirk", {});
    await expired;
    await sleep(3_000);
    // Fixed upstream, the job would run right after the delay expired.
    expect(ran).not.toContain(jobId);
    await runner.stop();
  }, 30_000);

  it("pgmill's engine options leave refetchDelay unset", () => {
    const logs = captureLogs();
    const options = engineOptions({
      config: { concurrency: 4, localQueueSize: 8, batchDelayMs: 5, shutdownTimeoutMs: 1_000 },
      pgPool: db.handle.pool,
      taskList: {},
      cronItems: [],
      events: new EventEmitter() as WorkerEvents,
      logger: logs.logger,
    });
    expect(options.preset?.worker?.localQueue).toEqual({ size: 8, ttl: 60_000 });
  });

  it("a failed task lookup is cached for the pool's life: later fetches fail with it (src/engine/pool-supervisor.ts restarts a wedged pool)", async () => {
    // The lookup inserts the task names; a statement trigger makes it fail while the switch is on.
    await db.handle.db.connection().execute(async (c) => {
      await sql`create table public.fail_task_lookup (on_ boolean)`.execute(c);
      await sql`insert into public.fail_task_lookup values (true)`.execute(c);
      await sql`
        create function public.fail_task_lookup() returns trigger language plpgsql as $$
        begin
          if exists (select 1 from public.fail_task_lookup) then raise exception 'simulated: task lookup failed'; end if;
          return null;
        end $$
      `.execute(c);
      await sql`
        create trigger fail_task_lookup before insert on graphile_worker._private_tasks
        for each statement execute function public.fail_task_lookup()
      `.execute(c);
    });
    onFileCleanup(() =>
      sql`drop trigger if exists fail_task_lookup on graphile_worker._private_tasks`.execute(db.handle.db).then(() => undefined),
    );
    const logs: string[] = [];
    const ran: string[] = [];
    const runner = await startEngine({ pollInterval: 500, localQueue: { size: 4 } }, ran, {
      logger: new Logger(() => (level, message) => void (level === "error" && logs.push(message))),
    });
    await waitFor("the first fetch to fail", () => logs.some((m) => m.includes("simulated: task lookup failed")), 15_000);
    await sql`delete from public.fail_task_lookup`.execute(db.handle.db);
    const jobId = await addJobWithSql(db.handle.db, "quirk", {});
    const errorsBefore = logs.length;
    await sleep(4_000);
    // The cause is gone, yet the cached rejection keeps every fetch failing.
    expect(ran).not.toContain(jobId);
    expect(logs.length).toBeGreaterThan(errorsBefore);
    expect(logs.at(-1)).toContain("simulated: task lookup failed");
    await runner.stop().catch(() => undefined);
  }, 40_000);

  it("stopping a pool whose local queue holds jobs logs errors ('queue is already released') and may leave them locked (the daemon quiets the lines and releases what is left at shutdown)", async () => {
    const errors: string[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const ran: string[] = [];
    // A pool of our own, as pgmill passes one: the engine ends a pool it made itself
    // while the local queue's jobs are still being returned.
    const pgPool = new pg.Pool({ connectionString: db.url, max: 4 });
    onFileCleanup(() => pgPool.end());
    const runner = await run({
      pgPool,
      // The first job holds the only worker, so the rest wait in the local queue.
      taskList: { waiting: async (_payload, helpers) => void (ran.push(helpers.job.id), await held) },
      logger: new Logger(() => (level, message) => void (level === "error" && errors.push(message))),
      noHandleSignals: true,
      parsedCronItems: [],
      preset: { worker: { concurrentJobs: 1, pollInterval: 500, localQueue: { size: 4 } } },
    });
    onFileCleanup(() => runner.stop().catch(() => undefined));
    await addJobsAtOnce(db.handle.db, "waiting", 3);
    await waitFor("a job to run and the others to wait locally", async () => {
      const { rows: locked } = await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs where locked_at is not null`.execute(db.handle.db);
      return ran.length === 1 && locked[0]!.n === 3;
    }, 15_000);
    const stopped = runner.stop().catch(() => "rejected");
    release();
    await stopped;
    expect(errors.some((m) => m.includes("Cannot background something when the queue is already released"))).toBe(true);
  }, 40_000);
});
