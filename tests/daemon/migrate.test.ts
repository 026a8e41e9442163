import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { sql } from "kysely";
import pg from "pg";
import { pino } from "pino";
import { afterAll, describe, expect, inject, it } from "vitest";
import { openDatabase } from "../../src/db/database.js";
import { SQL_DIR, latestMigrationName, migrate } from "../../src/db/migrate.js";
import { databaseUrl } from "../support/database-url.js";

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
});
