import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// Guard for src/engine/orphan-locks.ts: a fetch whose statement committed but
// whose answer was lost leaves jobs locked by a live pool that never got them.
const releases: (() => void)[] = [];
const tasks = taskRegistry(
  defineTask({ name: "noop", payload: z.object({}).passthrough(), handler: async () => undefined }),
  defineTask({ name: "hold", payload: z.object({}), handler: () => new Promise<void>((resolve) => releases.push(resolve)) }),
);

let db: TestDatabase;
let running: TestDaemon;
beforeAll(async () => {
  db = await createTestDatabase();
  running = await startTestDaemon(db, tasks, { settings: { PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "5", PGMILL_SHUTDOWN_TIMEOUT: "5" } });
  // The first fetch that tries to lock a job marked `refuseFetch` fails (a
  // sequence, so the refusal is not rolled back with the statement).
  await db.handle.db.connection().execute(async (c) => {
    await sql`create sequence public.fetch_refusals`.execute(c);
    await sql`
      create function public.refuse_first_fetch() returns trigger language plpgsql as $$
      begin
        if old.payload::jsonb ? 'refuseFetch' and new.locked_by is not null and nextval('public.fetch_refusals') = 1 then
          raise exception 'simulated: fetch refused';
        end if;
        return new;
      end $$
    `.execute(c);
    await sql`
      create trigger refuse_first_fetch before update on graphile_worker._private_jobs
      for each row execute function public.refuse_first_fetch()
    `.execute(c);
  });
});

const lockOf = async (id: string) => (await jobInEngine(db.handle.db, id))?.locked_by ?? null;

describe("jobs a live pool locked but never received", () => {
  it("are found after a failed fetch and released with a lost row, while the pool's running attempt finishes untouched", async () => {
    const held = await addJobWithSql(db.handle.db, "hold", {});
    await waitFor("the held job to run", () => releases.length === 1);
    const poolId = await lockOf(held);
    expect(poolId).not.toBeNull();

    // The orphan: locked with the pool's own id, as a fetch whose answer was lost leaves it.
    const orphan = await addJobWithSql(db.handle.db, "noop", {}, { runAt: "infinity" });
    await sql`
      update graphile_worker._private_jobs
         set locked_by = ${poolId}, locked_at = now() - interval '1 minute', run_at = now(), attempts = attempts + 1
       where id = ${orphan}
    `.execute(db.handle.db);
    // Nothing looks for orphans until a fetch fails.
    const refused = await addJobWithSql(db.handle.db, "noop", { refuseFetch: true });
    await waitFor("the fetch to fail", () => running.logs.lines.some((l) => String(l.msg).includes("Error occurred fetching jobs")), 20_000);

    await waitFor(
      "the orphan to be found",
      () => running.logs.lines.some((l) => l.msg === "jobs are locked by this worker pool but never reached it; restarting the pool to release them"),
      30_000,
      200,
    );
    const found = running.logs.lines.find((l) => l.msg === "jobs are locked by this worker pool but never reached it; restarting the pool to release them");
    expect(found?.jobs).toEqual([orphan]);
    // The pool drains gracefully: its running attempt is not cut short.
    expect(await lockOf(held)).toBe(poolId);
    releases[0]!();

    for (const id of [orphan, refused]) {
      await waitFor(`job ${id} to complete`, async () => !(await jobInEngine(db.handle.db, id)), 30_000, 200);
    }
    const orphanRuns = await runsOf(db.handle.db, orphan);
    expect(orphanRuns.map((r) => r.status)).toEqual(["lost", "succeeded"]);
    expect(orphanRuns[0]!.error_message).toMatch(/never reached it/);
    expect((await runsOf(db.handle.db, held)).map((r) => r.status)).toEqual(["succeeded"]);
    expect((await runsOf(db.handle.db, refused)).map((r) => r.status)).toEqual(["succeeded"]);
    const locked = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("id").where("locked_at", "is not", null).execute();
    expect(locked).toEqual([]);
  });
});
