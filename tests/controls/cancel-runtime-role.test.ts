import { sql } from "kysely";
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/index.js";
import { cancelJob } from "../../src/controls/cancel-queries.js";
import { openDatabase, type DatabaseHandle } from "../../src/db/database.js";
import { migrateDatabase } from "../../src/db/migrate.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { createEmptyDatabase, createLoginRole, type LoginRole } from "../support/database-roles.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

// The owner migrates and grants; a daemon and an operator's CLI run as the
// runtime role, which gets exactly what cancelling needs (sql/0009_cancel.sql).
let database: string;
let runtime: LoginRole;
let asOwner: DatabaseHandle;
let asRuntime: DatabaseHandle;
let asStranger: DatabaseHandle;

function open(role: LoginRole): DatabaseHandle {
  const handle = openDatabase(role.url(database), { maxConnections: 3, applicationName: "pgmill-test" });
  onFileCleanup(() => handle.close());
  return handle;
}

const tasks = taskRegistry(
  defineTask({
    name: "waits",
    payload: z.object({}),
    handler: async (_payload, { signal }) => {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      throw signal.reason;
    },
  }),
);

beforeAll(async () => {
  const owner = await createLoginRole("pgmill_owner");
  runtime = await createLoginRole("pgmill_runtime");
  const stranger = await createLoginRole("pgmill_stranger");
  database = await createEmptyDatabase(owner);
  await migrateDatabase(owner.url(database), pino({ level: "silent" }));
  asOwner = open(owner);
  await sql`select pgmill.grant_runtime(${runtime.name})`.execute(asOwner.db);
  asRuntime = open(runtime);
  // Usage on the schema, nothing else: what stops it must be the functions' own revoke from public.
  await sql`grant usage on schema pgmill, graphile_worker to ${sql.id(stranger.name)}`.execute(asOwner.db);
  asStranger = open(stranger);
});

describe("cancelling as the runtime role", () => {
  it("is granted exactly: the requests table and the two cancel functions, not the grant part", async () => {
    const { rows } = await sql<{ privilege_type: string }>`
      select privilege_type from information_schema.role_table_grants
       where grantee = ${runtime.name} and table_schema = 'pgmill' and table_name = 'cancel_requests' order by privilege_type
    `.execute(asOwner.db);
    expect(rows.map((r) => r.privilege_type)).toEqual(["DELETE", "INSERT", "SELECT", "UPDATE"]);
    const can = await sql<{ cancel: boolean; settle: boolean; part: boolean }>`
      select has_function_privilege(${runtime.name}, 'pgmill.cancel_job(bigint)', 'execute') as cancel,
             has_function_privilege(${runtime.name}, 'pgmill.settle_cancel_requests()', 'execute') as settle,
             has_function_privilege(${runtime.name}, 'pgmill.grant_runtime_part_cancel(name)', 'execute') as part
    `.execute(asOwner.db);
    expect(can.rows[0]).toEqual({ cancel: true, settle: true, part: false });
  });

  it("a daemon running as the runtime role aborts a cancelled job, and the runtime role cancels queued ones", async () => {
    const daemon = await startTestDaemon(
      { url: runtime.url(database), name: database, handle: asRuntime },
      tasks,
      { settings: { PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "3" } },
    );
    const running = await addJobWithSql(asRuntime.db, "waits", {});
    await waitFor("the job to be locked", async () => (await jobInEngine(asRuntime.db, running))?.locked_at);
    expect(await cancelJob(asRuntime.db, running)).toBe("cancelling");
    await waitFor("the cancelled row", async () => (await runsOf(asRuntime.db, running)).length === 1);
    expect((await runsOf(asRuntime.db, running))[0]).toMatchObject({ status: "cancelled", daemon_id: daemon.daemon.id });

    const queued = await addJobWithSql(asRuntime.db, "waits", {}, { runAt: "infinity" });
    expect(await cancelJob(asRuntime.db, queued)).toBe("cancelled");
    // The daemon counted the removal and deleted its request row, and forgot the running job's.
    await waitFor("the requests to be gone", async () => (await asRuntime.db.selectFrom("pgmill.cancel_requests").selectAll().execute()).length === 0);
    expect(daemon.logs.text()).not.toMatch(/permission denied|42501/);
  });

  it("cannot change what cancelling is made of; a role without the grants cannot cancel", async () => {
    const refused = [
      sql`alter table pgmill.cancel_requests add column intruder int`,
      sql`drop table pgmill.cancel_requests`,
      sql`create or replace function pgmill.cancel_job(job_id bigint) returns text language sql as 'select ''cancelled'''`,
      sql`select pgmill.grant_runtime_part_cancel(current_user)`,
    ];
    for (const statement of refused) {
      await expect(statement.execute(asRuntime.db), statement.compile(asRuntime.db).sql).rejects.toMatchObject({ code: "42501" });
    }
    await expect(sql`select pgmill.cancel_job(1)`.execute(asStranger.db)).rejects.toMatchObject({ code: "42501" });
    await expect(sql`select pgmill.settle_cancel_requests()`.execute(asStranger.db)).rejects.toMatchObject({ code: "42501" });
  });
});
