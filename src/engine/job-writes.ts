import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";

// The graphile-worker SQL functions pgmill calls itself (the pool calls the
// rest). Both are public API: `force_unlock_workers` and `complete_jobs`.

/** Releases every job and queue locked by these ids, so any daemon may run them now. */
export async function releaseLocks(db: Kysely<Database>, lockIds: readonly string[]): Promise<void> {
  await sql`select graphile_worker.force_unlock_workers(${[...lockIds]}::text[])`.execute(db);
}

/** A job row as `complete_jobs` hands it back on removal, payload included. */
export interface RemovedJob {
  id: string;
  payload: unknown;
  priority: number;
  attempts: number;
  max_attempts: number;
  revision: number;
  key: string | null;
  flags: Record<string, true> | null;
  created_at: Date;
  last_error: string | null;
}

/** Removes unlocked jobs (`complete_jobs` skips locked ones) and returns their rows. */
export async function removeUnlockedJobs(db: Kysely<Database>, ids: readonly string[]): Promise<RemovedJob[]> {
  const { rows } = await sql<RemovedJob>`select * from graphile_worker.complete_jobs(${[...ids]}::bigint[])`.execute(db);
  return rows;
}
