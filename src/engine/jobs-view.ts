import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";

/**
 * graphile-worker's public `graphile_worker.jobs` view, read-only for pgmill.
 * Its private tables are never ours to read or write.
 */
export interface EngineJobsView {
  id: string;
  queue_name: string | null;
  task_identifier: string;
  priority: number;
  run_at: Date;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  created_at: Date;
  key: string | null;
  locked_at: Date | null;
  locked_by: string | null;
  revision: number;
  flags: Record<string, true> | null;
}

// A type alias (not an interface): Kysely's withTables wants an index signature.
export type EngineTables = { "graphile_worker.jobs": EngineJobsView };

/** A pgmill Kysely handle (pool or transaction) that also sees the engine's view; ours never lists it. */
export function withEngineTables(db: Kysely<Database>): Kysely<Database & EngineTables> {
  return db.withTables<EngineTables>();
}
