import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { sql } from "kysely";
import pg from "pg";
import { pino } from "pino";
import { afterAll, describe, expect, inject, it } from "vitest";
import { openDatabase } from "../../src/db/database.js";
import { SQL_DIR, latestMigrationName, migrate, migrateDatabase } from "../../src/db/migrate.js";
import { databaseUrl } from "../support/database-url.js";
import { captureLogs } from "../support/log-capture.js";
import { waitFor } from "../support/wait-for.js";

// An empty database (not the template clone): this file tests getting there.
const name = `pgmill_migrate_${randomBytes(4).toString("hex")}`;
const admin = new pg.Client({ connectionString: inject("adminUrl") });
await admin.connect();
await admin.query(`create database ${admin.escapeIdentifier(name)}`);
const handles = Array.from({ length: 4 }, () => openDatabase(databaseUrl(inject("adminUrl"), name), { maxConnections: 3 }));

afterAll(async () => {
  await Promise.all(handles.map((h) => h.close()));
  await admin.query(`drop database if exists ${admin.escapeIdentifier(name)} with (force)`);
  await admin.end();
});

describe("migrations", () => {
  it("apply exactly once when four daemons start at the same moment", async () => {
    const logger = pino({ level: "silent" });
    const applied = await Promise.all(handles.map((h) => migrate(h.db, h.pool, logger)));
    const files = (await readdir(SQL_DIR)).filter((f) => f.endsWith(".sql")).map((f) => f.replace(/\.sql$/, "")).sort();
    // One daemon applied them all; the others found nothing to do.
    expect(applied.flat().sort()).toEqual(files);
    expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
    const ours = await sql<{ name: string }>`select name from pgmill.migrations order by name`.execute(handles[0]!.db);
    expect(ours.rows.map((r) => r.name)).toEqual(files);
    expect(await latestMigrationName()).toBe(files[files.length - 1]);
    const engine = await sql<{ n: number }>`select count(*)::int as n from graphile_worker.migrations`.execute(handles[0]!.db);
    expect(engine.rows[0]!.n).toBeGreaterThanOrEqual(19);
  });

  it("are a no-op when already applied", async () => {
    expect(await migrate(handles[1]!.db, handles[1]!.pool, pino({ level: "silent" }))).toEqual([]);
  });

  it("say every few seconds who holds the lock they wait for, and go on once it is released", async () => {
    // A session that took the migration lock and sits idle: a crashed tool, a leaked pooled connection.
    const holder = new pg.Client({ connectionString: databaseUrl(inject("adminUrl"), name), application_name: "leaky-session" });
    await holder.connect();
    await holder.query("select pg_advisory_lock(hashtext('pgmill:migrate'))");
    const holderPid = (await holder.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
    const logs = captureLogs("warn");
    const migrating = migrateDatabase(databaseUrl(inject("adminUrl"), name), logs.logger);
    const line = await waitFor("a line naming the lock's holder", () => logs.lines.find((l) => /^migrations: waiting/.test(String(l.msg))));
    expect(line.msg).toMatch(new RegExp(`^migrations: waiting \\d+s for a lock held by pid ${holderPid} \\(application_name 'leaky-session', idle for \\d+s, session open \\d+s\\)$`));
    await holder.end();
    expect(await migrating).toEqual([]);
    // Its own sessions, and their locks, are gone with it.
    const { rows } = await admin.query<{ n: number }>(
      "select count(*)::int as n from pg_locks l join pg_database d on d.oid = l.database where d.datname = $1 and l.locktype = 'advisory'",
      [name],
    );
    expect(rows[0]!.n).toBe(0);
  });
});
