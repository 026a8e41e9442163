import { runMigrations } from "graphile-worker";
import { sql, type Kysely } from "kysely";
import type pg from "pg";
import type { Database } from "../db/schema.js";
import type { Logger } from "../logging/logger.js";
import { engineLogger } from "./engine-logger.js";

/** Installs or upgrades graphile-worker's schema (its own migrations, through its public API). */
export async function migrateEngine(pool: pg.Pool, logger: Logger): Promise<void> {
  await runMigrations({ pgPool: pool, logger: engineLogger(logger) });
}

/** graphile-worker's newest applied migration, or null before it is installed. */
export async function engineRevision(db: Kysely<Database>): Promise<number | null> {
  const installed = await sql<{ yes: boolean }>`select to_regclass('graphile_worker.migrations') is not null as yes`.execute(db);
  if (!installed.rows[0]?.yes) return null;
  const { rows } = await sql<{ id: number | null }>`select max(id) as id from graphile_worker.migrations`.execute(db);
  return rows[0]?.id ?? null;
}
