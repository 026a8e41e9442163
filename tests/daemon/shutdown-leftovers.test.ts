import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { withEngineTables } from "../../src/engine/jobs-view.js";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { addJobsAtOnce } from "../support/sql-jobs.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// graphile-worker 0.18 may leave the jobs of a local queue locked when its pool
// stops; a stopped daemon is never reaped, so they would wait four hours.
const releases: (() => void)[] = [];
const tasks = taskRegistry(
  defineTask({ name: "held", payload: z.object({}), handler: () => new Promise<void>((resolve) => releases.push(resolve)) }),
);

let db: TestDatabase;
let running: TestDaemon;
beforeAll(async () => {
  db = await createTestDatabase();
  running = await startTestDaemon(db, tasks, { settings: { PGMILL_CONCURRENCY: "1", PGMILL_LOCAL_QUEUE_SIZE: "4" } });
});

describe("a daemon shutting down with jobs waiting in its local queue", () => {
  it("leaves none of them locked, and every attempt it counted has a history row", async () => {
    const ids = await addJobsAtOnce(db.handle.db, "held", 3);
    const engineJobs = () => withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select(["id", "locked_at", "attempts"]).where("id", "in", ids).execute();
    await waitFor("one job running, two waiting locally", async () => releases.length === 1 && (await engineJobs()).every((j) => j.locked_at), 15_000);

    const stopping = running.daemon.shutdown();
    releases[0]!();
    await stopping;

    const left = await engineJobs();
    expect(left.filter((j) => j.locked_at)).toEqual([]);
    // Returned by the engine (attempt given back) or released by pgmill with a `lost` row: never a counted attempt without a row.
    const runs = await db.handle.db.selectFrom("pgmill.job_runs").select(["job_id", "status"]).where("job_id", "in", ids).execute();
    for (const job of left) expect(runs.filter((r) => r.job_id === job.id)).toHaveLength(job.attempts);
    expect(runs.filter((r) => r.status === "succeeded")).toHaveLength(1);
  }, 40_000);
});
