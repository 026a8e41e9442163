import { sql } from "kysely";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { pauseTask, pausedTasks, resumeTask } from "../../src/controls/pause-queries.js";
import { openDatabase, type DatabaseHandle } from "../../src/db/database.js";
import { migrateDatabase } from "../../src/db/migrate.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { withAdmin } from "../support/database-admin.js";
import { createEmptyDatabase, createLoginRole, type LoginRole } from "../support/database-roles.js";
import { databaseUrl } from "../support/database-url.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { captureLogs } from "../support/log-capture.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { startTestDaemon } from "../support/test-daemon.js";
import type { TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// Parking, retry schedules and pausing as the least-privilege runtime role
// (pgmill.grant_runtime_part_parking): the daemon writes and applies
// reschedule requests, holds jobs, reads the paused set; the CLI's functions run.

let owner: LoginRole;
let runtime: LoginRole;
let database: string;
let asRuntime: DatabaseHandle;
let asOwner: DatabaseHandle;
let failOnce = true;

const tasks = taskRegistry(
  defineTask({
    name: "flaky",
    payload: z.object({}),
    retry: { delays: ["500ms"] },
    handler: async () => {
      if (failOnce) {
        failOnce = false;
        throw new Error("first try fails");
      }
    },
  }),
  defineTask({ name: "quiet", payload: z.object({}), handler: async () => undefined }),
  defineTask({ name: "unlucky", payload: z.object({}), handler: async () => undefined }),
);

beforeAll(async () => {
  owner = await createLoginRole("pgmill_owner");
  runtime = await createLoginRole("pgmill_runtime");
  database = await createEmptyDatabase(owner);
  await withAdmin(databaseUrl(inject("adminUrl"), database), (admin) => admin.query("revoke create on schema public from public"));
  await migrateDatabase(owner.url(database), captureLogs().logger);
  asOwner = openDatabase(owner.url(database), { maxConnections: 1 });
  onFileCleanup(() => asOwner.close());
  await sql`select pgmill.grant_runtime(${runtime.name})`.execute(asOwner.db);
  asRuntime = openDatabase(runtime.url(database), { maxConnections: 3, applicationName: "pgmill-test" });
  onFileCleanup(() => asRuntime.close());
  const target = { url: runtime.url(database), name: database, handle: asRuntime } satisfies TestDatabase;
  await startTestDaemon(target, tasks);
}, 120_000);

describe("the runtime role", () => {
  it("has what the daemon and the CLI need on the new tables, and no DDL", async () => {
    const privileges = await sql<{ table_name: string; privilege_type: string }>`
      select table_name, privilege_type from information_schema.role_table_grants
       where grantee = ${runtime.name} and table_schema = 'pgmill'
         and table_name in ('job_reschedules', 'held_jobs', 'paused_tasks')
       order by 1, 2
    `.execute(asRuntime.db);
    expect(privileges.rows.map((r) => `${r.table_name}:${r.privilege_type}`)).toEqual([
      "held_jobs:DELETE", "held_jobs:INSERT", "held_jobs:SELECT", "held_jobs:UPDATE",
      "job_reschedules:DELETE", "job_reschedules:INSERT", "job_reschedules:SELECT", "job_reschedules:UPDATE",
      "paused_tasks:DELETE", "paused_tasks:INSERT", "paused_tasks:SELECT", "paused_tasks:UPDATE",
    ]);
    await expect(sql`drop table pgmill.held_jobs`.execute(asRuntime.db)).rejects.toThrow(/must be owner/);
  });

  it("retries at a task's schedule: the request is written with the history row and applied", async () => {
    const id = await addJobWithSql(asRuntime.db, "flaky", {});
    await waitFor("the retry to succeed", async () => (await runsOf(asRuntime.db, id)).some((r) => r.status === "succeeded"), 20_000);
    const [first, second] = await runsOf(asRuntime.db, id);
    expect(first!.status).toBe("failed");
    const gap = new Date(second!.started_at).getTime() - new Date(first!.finished_at).getTime();
    expect(gap).toBeGreaterThanOrEqual(480);
    expect(gap).toBeLessThan(1500);
  });

  it("pauses and resumes through the pgmill functions, and the daemon holds and releases the task's jobs", async () => {
    expect(await pauseTask(asRuntime.db, "quiet")).toBe(true);
    await new Promise((r) => setTimeout(r, 700));
    const id = await addJobWithSql(asRuntime.db, "quiet", {}, { maxAttempts: 1 });
    await waitFor("the job to be held", async () => (await pausedTasks(asRuntime.db))[0]?.held_jobs === 1);
    await waitFor("its request to be applied", async () => ((await jobInEngine(asRuntime.db, id))?.run_at as unknown) === Infinity);
    expect((await jobInEngine(asRuntime.db, id))?.attempts).toBe(0);
    expect(await resumeTask(asRuntime.db, "quiet")).toBe(true);
    await waitFor("the job to run", async () => (await runsOf(asRuntime.db, id)).length === 1);
    expect((await runsOf(asRuntime.db, id))[0]).toMatchObject({ status: "succeeded", attempt: 1 });
  });

  it("when a park cannot be written, records the attempt as failed rather than losing it", async () => {
    // Take away what holding a job needs; the daemon's park of a paused job then fails.
    await sql`revoke insert on pgmill.held_jobs from ${sql.id(runtime.name)}`.execute(asOwner.db);
    try {
      expect(await pauseTask(asOwner.db, "unlucky")).toBe(true);
      await new Promise((r) => setTimeout(r, 700));
      const id = await addJobWithSql(asRuntime.db, "unlucky", {}, { maxAttempts: 2 });
      await waitFor("the failed attempt's row", async () => (await runsOf(asRuntime.db, id)).length === 1);
      const [run] = await runsOf(asRuntime.db, id);
      expect(run).toMatchObject({ status: "failed", attempt: 1 });
      expect(run!.error_message).toMatch(/^not started: the task gate failed \(permission denied for table held_jobs\)/);
    } finally {
      await sql`grant insert on pgmill.held_jobs to ${sql.id(runtime.name)}`.execute(asOwner.db);
      await resumeTask(asRuntime.db, "unlucky");
    }
  });
});
