import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

const releases: (() => void)[] = [];
const tasks = taskRegistry(
  defineTask({ name: "noop", payload: z.object({}), handler: async () => undefined }),
  defineTask({ name: "hold", payload: z.object({}), handler: () => new Promise<void>((resolve) => releases.push(resolve)) }),
);

let db: TestDatabase;
let running: TestDaemon;
beforeAll(async () => {
  db = await createTestDatabase();
  running = await startTestDaemon(db, tasks, { settings: { PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "5", PGMILL_SHUTDOWN_TIMEOUT: "1" } });
  // The database refuses the first completion of jobs marked `refuse` (as a restart or a
  // terminated session does between the history row and the completion).
  // (0.17.3's batch "retry" rethrows on the first failure, so one refusal ends the pool.)
  await db.handle.db.connection().execute(async (c) => {
    await sql`
      create function public.refuse_first_completion() returns trigger language plpgsql as $$
      begin
        if old.payload->>'refuse' = 'first' and old.attempts = 1 then raise exception 'simulated: completion refused'; end if;
        return old;
      end $$
    `.execute(c);
    await sql`
      create trigger refuse_first_completion before delete on graphile_worker._private_jobs
      for each row execute function public.refuse_first_completion()
    `.execute(c);
  });
});

const completed = (ids: string[]) => async () => {
  for (const id of ids) if (await jobInEngine(db.handle.db, id)) return false;
  return true;
};

describe("a worker pool that stops by itself holding locks", () => {
  it("has its still-locked jobs released by its own daemon, recorded as lost, and run again", async () => {
    const jobId = await addJobWithSql(db.handle.db, "noop", { refuse: "first" }, { maxAttempts: 5 });
    await waitFor("the pool to stop and be replaced", () => running.daemon.pool.restartCount === 1 && running.daemon.pool.running, 20_000);
    const runs = await waitFor(
      "the job to run again and complete",
      async () => ((await jobInEngine(db.handle.db, jobId)) ? null : runsOf(db.handle.db, jobId)),
      30_000,
      200,
    );
    expect(runs.map((r) => r.status)).toEqual(["succeeded", "lost", "succeeded"]);
    expect(runs[1]!.error_message).toMatch(/worker pool of this daemon stopped \(Could not completeJobs.*\); its job was released/);
    expect(running.logs.lines.some((l) => l.msg === "released the jobs a stopped worker pool of this daemon still held")).toBe(true);
    const locked = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("id").where("locked_at", "is not", null).execute();
    expect(locked).toEqual([]);
  });

  it("kills and replaces a pool whose own shutdown never finishes", async () => {
    const restartsBefore = running.daemon.pool.restartCount;
    // A handler that never settles (it ignores its signal) keeps a shutting-down pool from ever finishing.
    const stuck = await addJobWithSql(db.handle.db, "hold", {}, { maxAttempts: 1 });
    await waitFor("the stuck job to run", () => releases.length === 1);
    const refused = await addJobWithSql(db.handle.db, "noop", { refuse: "first" }, { maxAttempts: 5 });
    await waitFor(
      "the pool to be killed and replaced",
      () => running.daemon.pool.restartCount > restartsBefore && running.daemon.pool.running,
      30_000,
      200,
    );
    expect(running.logs.lines.some((l) => l.msg === "worker pool did not finish shutting down within its budget; killing it")).toBe(true);
    // The refused job runs again on the new pool; the kill failed the stuck one, which released it.
    await waitFor("the refused job to complete", completed([refused]), 30_000, 200);
    expect((await jobInEngine(db.handle.db, stuck))?.locked_at ?? null).toBeNull();
    const locked = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("id").where("locked_at", "is not", null).execute();
    expect(locked).toEqual([]);
  });
});
