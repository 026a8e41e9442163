import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Migrator, sql, type Migration, type MigrationProvider } from "kysely";
import type pg from "pg";
import { PgmillError } from "../errors.js";
import { engineRevision, migrateEngine } from "../engine/migrations.js";
import type { Logger } from "../logging/logger.js";
import { openDatabase, type Db } from "./database.js";
import { reportLockWaits } from "./lock-waits.js";

export const SQL_DIR = fileURLToPath(new URL("../../sql/", import.meta.url));

/** Serialises migrations across every daemon starting at once. */
const MIGRATION_LOCK = "pgmill:migrate";

/** Our numbered, plain-SQL migrations, in order. Shipped files are never edited. */
class SqlDirectoryProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(SQL_DIR)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const text = await readFile(path.join(SQL_DIR, file), "utf8");
      // A reviewed file from sql/, run as one simple-protocol batch.
      migrations[file.replace(/\.sql$/, "")] = {
        up: async (db) => {
          await sql.raw(text).execute(db);
        },
      };
    }
    return migrations;
  }
}

/** The name of the newest migration this build knows: what readiness expects. */
export async function latestMigrationName(): Promise<string> {
  const names = Object.keys(await new SqlDirectoryProvider().getMigrations());
  return names[names.length - 1] ?? "";
}

/**
 * graphile-worker's migrations, then ours, under one advisory lock so N daemons
 * starting together apply each migration exactly once. When anything was
 * applied, the runtime roles granted so far get the grants of what is new.
 * Nothing to apply means no DDL at all, so a least-privilege runtime role can
 * start a daemon on a current schema; on an outdated one it gets a clear error.
 */
export async function migrate(db: Db, pool: pg.Pool, logger: Logger): Promise<string[]> {
  return db.connection().execute(async (lockConnection) => {
    await sql`select pg_advisory_lock(hashtext(${MIGRATION_LOCK}))`.execute(lockConnection);
    try {
      const engineBefore = await engineRevision(lockConnection);
      await migrateEngine(pool, logger);
      const migrator = new Migrator({
        db,
        provider: new SqlDirectoryProvider(),
        migrationTableSchema: "pgmill",
        migrationTableName: "migrations",
        migrationLockTableName: "migrations_lock",
      });
      const { error, results = [] } = await migrator.migrateToLatest();
      const failed = results.find((r) => r.status === "Error");
      if (error || failed) {
        if (isInsufficientPrivilege(error)) throw error;
        const cause = error instanceof Error ? error.message : String(error);
        throw new Error(`migration ${failed?.migrationName ?? "(setup)"} failed: ${cause}`);
      }
      const applied = results.map((r) => r.migrationName);
      if (applied.length) logger.info({ applied }, "applied migrations");
      if (applied.length || (await engineRevision(lockConnection)) !== engineBefore) {
        const { rows } = await sql<{ n: number }>`select pgmill.refresh_runtime_grants() as n`.execute(lockConnection);
        if (rows[0]!.n) logger.info({ runtimeRoles: rows[0]!.n }, "granted the runtime roles what the migrations added");
      }
      return applied;
    } catch (error) {
      if (!isInsufficientPrivilege(error)) throw error;
      throw new PgmillError(
        "PGMILL_SCHEMA_NOT_CURRENT",
        `the database schema needs migrations this role may not apply (${(error as Error).message}): ` +
          "run `pgmill migrate` as the schema owner first (see Least-privilege deployment in the README)",
      );
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${MIGRATION_LOCK}))`.execute(lockConnection);
    }
  });
}

/**
 * Migrates over connections of its own to `sessionConnectionString` (a direct
 * or session-mode URL, never a transaction pooler): the advisory locks
 * involved (ours and kysely's migrator's, both session-level) are then taken
 * and released on one server session, and go with it if the process dies. A
 * wait for any lock is reported every few seconds, naming who holds it.
 */
export async function migrateDatabase(sessionConnectionString: string, logger: Logger): Promise<string[]> {
  // Unique, so the report finds this run's sessions (and never blames another waiter).
  const applicationName = `pgmill-migrate ${randomBytes(3).toString("hex")}`;
  // The lock's session, one for the migrations, one for the report.
  const handle = openDatabase(sessionConnectionString, { maxConnections: 3, applicationName });
  const stopReporting = reportLockWaits(handle.db, applicationName, "migrations", logger);
  try {
    return await migrate(handle.db, handle.pool, logger);
  } finally {
    stopReporting();
    await handle.close();
  }
}

/** SQLSTATE 42501: the role lacks a privilege (here: to run DDL). */
function isInsufficientPrivilege(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "42501";
}
