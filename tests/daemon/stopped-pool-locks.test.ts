import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, taskRegistry } from "../../src/index.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

const tasks = taskRegistry(defineTask({ name: "noop", payload: z.object({}), handler: async () => undefined }));

let db: TestDatabase;
let running: TestDaemon;
beforeAll(async () => {
  db = await createTestDatabase();
  running = await startTestDaemon(db, tasks, { settings: { PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "5" } });
});

describe("a worker pool that stops by itself holding locks", () => {
  it("has its still-locked jobs released by its own daemon, recorded as lost, and run again", async () => {
    // The database refuses the first completion of the job (as a restart does between the
    // history row and the completion): graphile-worker's pool stops, the job still locked by it.
    // (0.17.3's batch "retry" rethrows on the first failure, so one refusal is enough.)
    await db.handle.db.connection().execute(async (c) => {
      await sql`
        create function public.refuse_first_completion() returns trigger language plpgsql as $$
        begin
          if old.attempts = 1 then raise exception 'simulated: completion refused'; end if;
          return old;
        end $$
      `.execute(c);
      await sql`
        create trigger refuse_first_completion before delete on graphile_worker._private_jobs
        for each row execute function public.refuse_first_completion()
      `.execute(c);
    });

    const jobId = await addJobWithSql(db.handle.db, "noop", {}, { maxAttempts: 5 });
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
    const locked = await db.handle.db.selectFrom("graphile_worker.jobs").select("id").where("locked_at", "is not", null).execute();
    expect(locked).toEqual([]);
  });
});
