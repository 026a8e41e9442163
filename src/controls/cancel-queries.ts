import { sql } from "kysely";
import type { Db } from "../db/database.js";

// Every query of pgmill.cancel_requests and the cancel functions (sql/0009_cancel.sql).

/** What pgmill.cancel_job did (see its comment in sql/0009_cancel.sql). */
export const CANCEL_RESULTS = ["cancelled", "cancelling", "dead_letter", "finished", "not_found"] as const;
export type CancelResult = (typeof CANCEL_RESULTS)[number];

export async function cancelJob(db: Db, jobId: string): Promise<CancelResult> {
  const { rows } = await sql<{ result: CancelResult }>`select pgmill.cancel_job(${jobId}::bigint) as result`.execute(db);
  return rows[0]!.result;
}

/** Every pending request and every removal not yet counted: a small table, read whole (pending ones first). */
export function cancelRequests(db: Db, limit = 1_000) {
  return db
    .selectFrom("pgmill.cancel_requests")
    .select(["job_id", "task", "state", "requested_at", "requested_by"])
    .orderBy(sql`state = 'requested'`, "desc")
    .orderBy("job_id")
    .limit(limit)
    .execute();
}

/** Deletes these counted removals; returns the ones this caller deleted (each is counted once, by one daemon). */
export function forgetRemovals(db: Db, jobIds: readonly string[]) {
  return db
    .deleteFrom("pgmill.cancel_requests")
    .where("state", "=", "removed")
    .where("job_id", "in", [...jobIds])
    .returning(["job_id", "task"])
    .execute();
}

/** Requests whose job no longer runs anywhere: removed as queued, or forgotten if the job is gone. */
export async function settleCancelRequests(db: Db): Promise<number> {
  const { rows } = await sql<{ settled: number }>`select pgmill.settle_cancel_requests() as settled`.execute(db);
  return rows[0]!.settled;
}

/** Cancels asked of running jobs, not yet recorded: what `pgmill status` shows. */
export function cancelsInProgress(db: Db) {
  return db
    .selectFrom("pgmill.cancel_requests")
    .select([
      "job_id",
      "task",
      "requested_at",
      "requested_by",
      sql<number>`round(extract(epoch from now() - requested_at)::numeric, 1)::float8`.as("seconds_waiting"),
    ])
    .where("state", "=", "requested")
    .orderBy("requested_at")
    .limit(50)
    .execute();
}

/** A job's last history row, to say why there was nothing to cancel. */
export function lastRunOf(db: Db, jobId: string) {
  return db
    .selectFrom("pgmill.job_runs")
    .select(["attempt", "status", "finished_at"])
    .where("job_id", "=", jobId)
    .orderBy("attempt", "desc")
    .orderBy("finished_at", "desc")
    .limit(1)
    .executeTakeFirst();
}

/** Of these jobs, the cancels pending for them (for a release of locks, in its transaction). */
export function pendingCancelsOf(db: Db, jobIds: readonly string[]) {
  return db
    .selectFrom("pgmill.cancel_requests")
    .select(["job_id", "requested_at", "requested_by"])
    .where("state", "=", "requested")
    .where("job_id", "in", [...jobIds])
    .execute();
}

/** The jobs (of these) that already have a `cancelled` row: a second one is never written. */
export async function jobsRecordedCancelled(db: Db, jobIds: readonly string[]): Promise<Set<string>> {
  const rows = await db
    .selectFrom("pgmill.job_runs")
    .select("job_id")
    .where("job_id", "in", [...jobIds])
    .where("status", "=", "cancelled")
    .execute();
  return new Set(rows.map((row) => row.job_id));
}

/** The requests of jobs that are gone now (removed in the caller's transaction). */
export async function forgetRequests(db: Db, jobIds: readonly string[]): Promise<void> {
  await db.deleteFrom("pgmill.cancel_requests").where("job_id", "in", [...jobIds]).execute();
}
