import { sql } from "kysely";
import type { Db } from "../db/database.js";
import { PgmillError } from "../errors.js";

export interface DeadLetterFilter {
  readonly task?: string;
  /** Include letters already retried. */
  readonly includeRetried?: boolean;
  readonly limit: number;
}

export function listDeadLetters(db: Db, filter: DeadLetterFilter) {
  let query = db
    .selectFrom("pgmill.dead_letters")
    .select(["id", "job_id", "task", "reason", "attempts", "max_attempts", "last_error", "died_at", "retried_at", "retried_as_job_id"])
    .orderBy("died_at", "desc")
    .limit(filter.limit);
  if (filter.task) query = query.where("task", "=", filter.task);
  if (!filter.includeRetried) query = query.where("retried_at", "is", null);
  return query.execute();
}

/** Re-enqueues one dead letter; returns the new job's id. */
export async function retryDeadLetter(db: Db, id: string): Promise<string> {
  try {
    const { rows } = await sql<{ job_id: string }>`select pgmill.retry_dead_letter(${id}::bigint) as job_id`.execute(db);
    return rows[0]!.job_id;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "P0002" || code === "23505") throw new PgmillError("PGMILL_NOT_FOUND", (error as Error).message);
    throw error;
  }
}

/** Re-enqueues every pending dead letter (of one task, if given); returns how many. */
export async function retryDeadLetters(db: Db, task?: string): Promise<number> {
  const { rows } = await sql<{ count: number }>`select pgmill.retry_dead_letters(${task ?? null}::text) as count`.execute(db);
  return rows[0]!.count;
}

/** Deletes dead letters older than `olderThanSeconds`; returns how many. */
export async function purgeDeadLetters(db: Db, olderThanSeconds: number): Promise<number> {
  const { rows } = await sql<{ count: number }>`
    select pgmill.purge_dead_letters(make_interval(secs => ${olderThanSeconds})) as count
  `.execute(db);
  return rows[0]!.count;
}
