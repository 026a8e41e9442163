import { sql } from "kysely";
import type { Db } from "../db/database.js";
import type { RunStatus } from "../db/schema.js";

/** Every recorded attempt of one job (job_runs_job_id_idx), oldest first; a job has at most 32767. */
export function attemptsOf(db: Db, jobId: string) {
  return db
    .selectFrom("pgmill.job_runs")
    .select(["id", "attempt", "max_attempts", "status", "started_at", "finished_at", "duration_ms", "error_message", "error_stack", "daemon_id", "queue", "task"])
    .where("job_id", "=", jobId)
    .orderBy("attempt")
    .orderBy("started_at")
    .limit(1000)
    .execute();
}

/** The payload the latest attempt recorded (history keeps it as PGMILL_HISTORY_PAYLOAD said when it ran). */
export async function lastRunPayload(db: Db, jobId: string): Promise<unknown> {
  const row = await db
    .selectFrom("pgmill.job_runs")
    .select("payload")
    .where("job_id", "=", jobId)
    .orderBy("attempt", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.payload ?? null;
}

/** The job's dead letter, if it died (one per job: dead_letters.job_id is unique). */
export function deadLetterOf(db: Db, jobId: string) {
  return db
    .selectFrom("pgmill.dead_letters")
    .select(["id", "task", "reason", "attempts", "max_attempts", "last_error", "died_at", "retried_at", "retried_as_job_id", "payload"])
    .where("job_id", "=", jobId)
    .executeTakeFirst();
}

export interface RunFilter {
  readonly task?: string;
  readonly status?: RunStatus;
  readonly queue?: string;
  readonly from?: Date;
  readonly to?: Date;
  /** Paging: the last row shown, as (started_at text, id). */
  readonly after?: { readonly startedAt: string; readonly id: string };
  readonly limit: number;
}

/**
 * Attempts from history, newest first, paged by (started_at, id): the
 * started_at bound lets job_runs_started_idx (or the task's index) serve it and
 * prunes partitions; the row comparison breaks ties. The cursor is Postgres'
 * own text for started_at, as a JavaScript Date would drop its microseconds.
 */
export function listRuns(db: Db, filter: RunFilter) {
  let query = db
    .selectFrom("pgmill.job_runs")
    .select([
      "id",
      "job_id",
      "task",
      "queue",
      "attempt",
      "max_attempts",
      "status",
      "started_at",
      sql<string>`to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as("cursor"),
      "duration_ms",
      "error_message",
      "daemon_id",
    ])
    .orderBy("started_at", "desc")
    .orderBy("id", "desc")
    .limit(filter.limit);
  if (filter.task) query = query.where("task", "=", filter.task);
  if (filter.status) query = query.where("status", "=", filter.status);
  if (filter.queue) query = query.where("queue", "=", filter.queue);
  if (filter.from) query = query.where("started_at", ">=", filter.from);
  if (filter.to) query = query.where("started_at", "<", filter.to);
  if (filter.after) {
    const { startedAt, id } = filter.after;
    query = query
      .where("started_at", "<=", sql<Date>`${startedAt}::timestamptz`)
      .where(sql<boolean>`(started_at, id) < (${startedAt}::timestamptz, ${id}::uuid)`);
  }
  return query.execute();
}
