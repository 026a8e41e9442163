import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Runner } from "graphile-worker";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { addJobWithSql, runsOf } from "../support/sql-jobs.js";
import { waitFor } from "../support/wait-for.js";

const tasks = taskRegistry(defineTask({ name: "noop", payload: z.object({}), handler: async () => undefined }));

let db: TestDatabase;
let running: TestDaemon;
beforeAll(async () => {
  db = await createTestDatabase();
  running = await startTestDaemon(db, tasks);
});

const succeeds = async (label: string) => {
  const jobId = await addJobWithSql(db.handle.db, "noop", {});
  const [run] = await waitFor(`${label}: job ${jobId} to run`, async () => {
    const runs = await runsOf(db.handle.db, jobId);
    return runs.length ? runs : null;
  });
  expect(run!.status).toBe("succeeded");
};

describe("pool supervision", () => {
  it("starts a new pool when graphile-worker's stops by itself, and keeps running jobs", async () => {
    await succeeds("before");
    const restarts: number[] = [];
    running.daemon.events.on("pool:restart", (n) => restarts.push(n));
    // What a transient database error does with batching on: the runner ends on its own.
    const runner = (running.daemon.pool as unknown as { runner: Runner }).runner;
    await runner.stop("simulated unexpected stop");
    await waitFor("the supervisor to restart the pool", () => running.daemon.pool.restartCount === 1 && running.daemon.pool.running);
    expect(running.logs.lines.some((l) => l.msg === "worker pool stopped unexpectedly; starting a new one")).toBe(true);
    expect(restarts).toEqual([1]);
    await succeeds("after the restart");
  });

  it("survives its database connections being terminated", async () => {
    const { rows } = await sql<{ n: number }>`
      select count(pg_terminate_backend(pid))::int as n
        from pg_stat_activity
       where datname = current_database() and pid <> pg_backend_pid() and application_name = 'pgmill'
    `.execute(db.handle.db);
    expect(rows[0]!.n).toBeGreaterThan(0);
    await succeeds("after the connections were killed");
    expect(running.daemon.state).toBe("running");
  });

  it("reports its work as events: attempts, ledger batches, and its state through shutdown", async () => {
    const seen: string[] = [];
    const { events } = running.daemon;
    events.on("attempt:start", (task) => seen.push(`start ${task}`));
    events.on("attempt:finish", (task, status, seconds) => seen.push(`finish ${task} ${status} ${seconds >= 0}`));
    events.on("ledger:batch", (rows) => seen.push(`batch ${rows}`));
    events.on("state", (state) => seen.push(`state ${state}`));
    await succeeds("with listeners");
    expect(seen.slice(0, 3)).toEqual(["start noop", "batch 1", "finish noop succeeded true"]);
    await running.daemon.shutdown();
    expect(seen.slice(3)).toEqual(["state draining", "state stopped"]);
  });
});

