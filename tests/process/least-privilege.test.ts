import http from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openDatabase, type DatabaseHandle } from "../../src/db/database.js";
import { expectSuccess, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { spawnDaemon, type DaemonProcess } from "../support/daemon-process.js";
import { withAdmin } from "../support/database-admin.js";
import { createEmptyDatabase, createLoginRole, type LoginRole } from "../support/database-roles.js";
import { databaseUrl } from "../support/database-url.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { addJobWithSql, deadLetterOf, runsOf } from "../support/sql-jobs.js";
import { waitFor } from "../support/wait-for.js";

// The deployment the README describes: an owner role migrates and grants; the
// daemon runs as a separate runtime role that cannot change the schema.
let owner: LoginRole;
let runtime: LoginRole;
let database: string;
let asOwner: DatabaseHandle;
let asRuntime: DatabaseHandle;
let daemon: DaemonProcess;

// A loopback endpoint for the built-in http task: /gone answers 404 (a permanent error).
const server = http.createServer((req, res) => {
  res.statusCode = req.url === "/gone" ? 404 : 200;
  res.end();
});
let baseUrl = "";

function open(role: LoginRole): DatabaseHandle {
  const handle = openDatabase(role.url(database), { maxConnections: 3, applicationName: "pgmill-test" });
  onFileCleanup(() => handle.close());
  return handle;
}

function partitionsOf(db: DatabaseHandle["db"]) {
  return sql<{ name: string; owner: string }>`
    select c.relname as name, pg_get_userbyid(c.relowner) as owner
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'pgmill.job_runs'::regclass and c.relname ~ '^job_runs_p[0-9]{8}$'
     order by c.relname
  `.execute(db);
}

beforeAll(async () => {
  owner = await createLoginRole("pgmill_owner");
  runtime = await createLoginRole("pgmill_runtime");
  database = await createEmptyDatabase(owner);
  // The README's setup step: before PostgreSQL 15 PUBLIC may create in schema public (a no-op on 15+).
  await withAdmin(databaseUrl(inject("adminUrl"), database), (admin) => admin.query("revoke create on schema public from public"));
  const granted = await runCli(["migrate", "--grant-runtime", runtime.name], { databaseUrl: owner.url(database) });
  expectSuccess(granted);
  expect(granted.stderr, "no warning that the runtime role could create objects").toBe("");
  asOwner = open(owner);
  asRuntime = open(runtime);
  // No daily partitions left: the runtime daemon's retention has to create them (DDL, through the owner's functions).
  for (const { name } of (await partitionsOf(asOwner.db)).rows) {
    await sql`drop table ${sql.table(`pgmill.${name}`)}`.execute(asOwner.db);
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  daemon = await spawnDaemon(
    // Short heartbeats: a daemon reaps only after dead-after of steady beats of its own.
    { DATABASE_URL: runtime.url(database), PGMILL_SHUTDOWN_TIMEOUT: "10", PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "3" },
    `* * * * * log-message ?id=least-privilege-tick {"message":"tick"}\n`,
  );
  onFileCleanup(() => daemon.child.kill("SIGKILL"));
  await daemon.waitForLog("pgmill daemon running", 60_000);
}, SLOW_CLI_TIMEOUT);

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe("a daemon running as a least-privilege runtime role", () => {
  it("keeps the history partitions: creates the missing days through the owner's functions", async () => {
    const { rows } = await partitionsOf(asOwner.db);
    // Yesterday through a week ahead, owned by the owner role, not the runtime role.
    expect(rows).toHaveLength(9);
    expect(new Set(rows.map((r) => r.owner))).toEqual(new Set([owner.name]));
  });

  it("claims, runs and records jobs, and dead-letters the ones that cannot succeed", async () => {
    const ok = await addJobWithSql(asRuntime.db, "log-message", { message: "hello from the runtime role" });
    const invalid = await addJobWithSql(asRuntime.db, "log-message", { message: 42 });
    const gone = await addJobWithSql(asRuntime.db, "http", { url: `${baseUrl}/gone` });
    const lastTry = await addJobWithSql(asRuntime.db, "http", { url: "http://127.0.0.1:1/refused" }, { maxAttempts: 1 });

    await waitFor("the four jobs to be recorded", async () => {
      const recorded = await Promise.all([ok, invalid, gone, lastTry].map((id) => runsOf(asOwner.db, id)));
      return recorded.every((runs) => runs.length === 1);
    }, 30_000);
    expect((await runsOf(asOwner.db, ok))[0]).toMatchObject({ status: "succeeded", attempt: 1 });
    expect(await deadLetterOf(asOwner.db, invalid)).toMatchObject({ reason: "invalid_payload" });
    expect(await deadLetterOf(asOwner.db, gone)).toMatchObject({ reason: "permanent_error" });
    expect(await deadLetterOf(asOwner.db, lastTry)).toMatchObject({ reason: "max_attempts" });
    // Completed or moved: none is left in graphile-worker.
    const left = await sql<{ n: number }>`
      select count(*)::int as n from graphile_worker.jobs where id = any(${[ok, invalid, gone, lastTry]}::bigint[])
    `.execute(asOwner.db);
    expect(left.rows[0]!.n).toBe(0);

    // The history rows landed in today's new partition, through the partitioned table.
    const today = new Date().toISOString().slice(0, 10).replaceAll("-", "");
    const where = await sql<{ partition: string }>`
      select tableoid::regclass::text as partition from pgmill.job_runs where job_id = ${ok}::bigint
    `.execute(asOwner.db);
    expect(where.rows[0]!.partition).toBe(`pgmill.job_runs_p${today}`);
  });

  it("registers and heartbeats, registers its crontab, and retries a dead letter", async () => {
    await waitFor("its heartbeat to say running", async () => {
      const daemons = await asOwner.db.selectFrom("pgmill.daemons").select("state").execute();
      return daemons.length === 1 && daemons[0]!.state === "running";
    });
    const known = await sql<{ identifier: string }>`select identifier from graphile_worker._private_known_crontabs`.execute(asOwner.db);
    expect(known.rows.map((r) => r.identifier)).toEqual(["least-privilege-tick"]);

    const dead = await asRuntime.db.selectFrom("pgmill.dead_letters").select("id").where("reason", "=", "permanent_error").executeTakeFirstOrThrow();
    const retried = await sql<{ id: string }>`select pgmill.retry_dead_letter(${dead.id}) as id`.execute(asRuntime.db);
    await waitFor("the retried job to die again", () => deadLetterOf(asOwner.db, retried.rows[0]!.id), 30_000);
  });

  it("reaps a dead peer: records its job as lost and releases it, then runs it", async () => {
    // A peer that went silent an hour ago holding a job (set up by the owner, as a crash would leave it).
    await asOwner.db
      .insertInto("pgmill.daemons")
      .values({
        id: "ghost",
        host: "gone",
        pid: 1,
        version: "0",
        state: "running",
        jobs_in_flight: 1,
        worker_ids: ["ghost-worker"],
        last_seen: new Date(Date.now() - 3_600_000),
      })
      .execute();
    // Added and locked in one transaction, so no live daemon can claim it first.
    const held = await asOwner.db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ id: string }>`
        select (graphile_worker.add_job('log-message', '{"message": "held"}'::json, run_at => now() + interval '1 hour')).id as id
      `.execute(trx);
      await sql`
        update graphile_worker._private_jobs
           set locked_by = 'ghost-worker', locked_at = now(), attempts = 1, run_at = now()
         where id = ${rows[0]!.id}::bigint
      `.execute(trx);
      return rows[0]!.id;
    });
    await waitFor("the held job to be reaped and run", async () => (await runsOf(asOwner.db, held)).length === 2, 30_000);
    expect((await runsOf(asOwner.db, held)).map((r) => r.status)).toEqual(["lost", "succeeded"]);
    const ghost = await asOwner.db.selectFrom("pgmill.daemons").select("state").where("id", "=", "ghost").executeTakeFirstOrThrow();
    expect(ghost.state).toBe("dead");
  });

  it("cannot change the schema: every DDL statement fails with insufficient_privilege", async () => {
    const statements = [
      sql`create table pgmill.intruder (id int)`,
      sql`create table graphile_worker.intruder (id int)`,
      sql`create table public.intruder (id int)`,
      sql`create schema intruder`,
      sql`alter table pgmill.job_runs add column intruder int`,
      sql`drop table pgmill.dead_letters`,
      sql`drop table graphile_worker._private_jobs`,
      sql`create index intruder on pgmill.daemons (pid)`,
      sql`truncate pgmill.job_runs`,
      sql`delete from pgmill.job_runs`,
      sql`insert into graphile_worker.migrations (id) values (100000)`,
      sql`select pgmill.create_job_runs_partition(current_date + 100)`,
      sql`select pgmill.grant_runtime(current_user)`,
      sql`create or replace function pgmill.ensure_job_runs_partitions(days_ahead integer default 7) returns integer language sql as 'select 0'`,
    ];
    for (const statement of statements) {
      const sqlText = statement.compile(asRuntime.db).sql;
      await expect(statement.execute(asRuntime.db), sqlText).rejects.toMatchObject({ code: "42501" });
    }
    // The partition functions it may call stay within bounds.
    await expect(sql`select pgmill.drop_job_runs_partitions(interval '0')`.execute(asRuntime.db)).rejects.toMatchObject({ code: "22023" });
    await expect(sql`select pgmill.ensure_job_runs_partitions(10000)`.execute(asRuntime.db)).rejects.toMatchObject({ code: "22023" });
  });

  it("stops cleanly, with no permission error logged on the way", async () => {
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    const errors = daemon.lines.filter((l) => typeof l.level === "number" && l.level >= 50);
    // The three dead letters and the retried one are the only errors.
    expect(errors.map((l) => l.msg)).toEqual(Array(4).fill("job moved to dead letters"));
    expect(daemon.lines.map((l) => JSON.stringify(l)).join("\n")).not.toMatch(/permission denied|42501/);
    expect(daemon.stderr()).toBe("");
  });
});

describe("runtime role grants", () => {
  it("follow graphile-worker's future tables: default privileges, and row security re-opened by refresh_runtime_grants", async () => {
    // What a later graphile-worker migration does, run by the owner.
    await sql`create table graphile_worker._private_future (id int)`.execute(asOwner.db);
    await sql`alter table graphile_worker._private_future enable row level security`.execute(asOwner.db);
    await sql`insert into graphile_worker._private_future values (1)`.execute(asOwner.db);
    // Granted by default privileges, but row security hides the rows...
    const hidden = await sql<{ id: number }>`select id from graphile_worker._private_future`.execute(asRuntime.db);
    expect(hidden.rows).toEqual([]);
    // ...until migrate() re-applies the grants after applying a migration.
    const refreshed = await sql<{ n: number }>`select pgmill.refresh_runtime_grants() as n`.execute(asOwner.db);
    expect(refreshed.rows[0]!.n).toBe(1);
    const visible = await sql<{ id: number }>`select id from graphile_worker._private_future`.execute(asRuntime.db);
    expect(visible.rows).toEqual([{ id: 1 }]);
    await sql`drop table graphile_worker._private_future`.execute(asOwner.db);
  });

  it("refuse a missing role and the owner itself, with the reason", async () => {
    const missing = await runCli(["migrate", "--grant-runtime", "no_such_role_here"], { databaseUrl: owner.url(database) });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--grant-runtime: role no_such_role_here does not exist/);
    await expect(sql`select pgmill.grant_runtime(current_user)`.execute(asOwner.db)).rejects.toThrow(
      /owns \(or acts as .*\) pgmill's schema: a runtime role must be a separate role/,
    );
  }, SLOW_CLI_TIMEOUT);

  it("a runtime role on a database that needs migrations gets told to run them as the owner", async () => {
    const unmigrated = await createEmptyDatabase(owner);
    const result = await runCli(["status"], { databaseUrl: runtime.url(unmigrated) });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^pgmill: the database schema needs migrations this role may not apply \(permission denied .*\): run `pgmill migrate` as the schema owner first/);
  }, SLOW_CLI_TIMEOUT);
});
