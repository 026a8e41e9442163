import { sql } from "kysely";
import type { Db } from "../db/database.js";
import type { RescheduleReason } from "../db/schema.js";

// Reschedule requests (sql/0008): written while a daemon holds the job's lock,
// applied with graphile-worker's public `reschedule_jobs` once the engine has
// failed (released) the job. reschedule_jobs skips locked jobs, which is what
// orders the two: a request applied early simply stays for the next pass.

export interface ParkRequest {
  readonly jobId: string;
  readonly task: string;
  /** The lock ids of this daemon: the request is written only if one of them still holds the job. */
  readonly heldBy: readonly string[];
  /** When to run it again; null holds it (run_at = infinity) while its task is paused. */
  readonly until: Date | null;
  /** The run_at the job had, which resume puts back when it is held. */
  readonly runAt: Date;
  /** The attempts count before this fetch: the park spends none. */
  readonly attempts: number;
  readonly reason: RescheduleReason;
}

/**
 * Writes a park request for a job this daemon holds, in one statement. A job
 * held for its paused task (`until` null) is held only while the task's paused
 * row exists, read FOR SHARE so a concurrent resume_task waits for this and
 * then sees it; resumed meanwhile, the job goes back to run now.
 * Returns false when this daemon no longer holds the job (nothing written).
 */
export async function requestPark(db: Db, request: ParkRequest): Promise<boolean> {
  const hold = request.until === null;
  const { rows } = await sql<{ job_id: string }>`
    with job as (
      select id from graphile_worker.jobs where id = ${request.jobId}::bigint and locked_by = any(${[...request.heldBy]}::text[])
    ), paused as (
      select task from pgmill.paused_tasks where ${hold}::boolean and task = ${request.task} for share
    ), held as (
      insert into pgmill.held_jobs (job_id, task, run_at)
      select job.id, paused.task, ${request.runAt}::timestamptz from job, paused
      on conflict (job_id) do update set run_at = excluded.run_at, held_at = now()
    )
    insert into pgmill.job_reschedules (job_id, run_at, attempts, reason)
    select job.id,
           case when exists (select 1 from paused) then 'infinity'::timestamptz
                else coalesce(${request.until}::timestamptz, now()) end,
           ${request.attempts}::int, ${request.reason}
      from job
    on conflict (job_id) do update
      -- A park request still pending means that fetch ran nothing either (the job was fetched again before the
      -- request was applied, as after a kill -9): restore the lower count. A pending retry's attempt was real.
      set run_at = excluded.run_at,
          attempts = case when pgmill.job_reschedules.reason <> 'retry' then least(pgmill.job_reschedules.attempts, excluded.attempts)
                          else excluded.attempts end,
          reason = excluded.reason, requested_at = now()
    returning job_id
  `.execute(db);
  return rows.length > 0;
}

export interface AppliedReschedule {
  readonly jobId: string;
  /** Null when the job was gone (finished or deleted) and the request dropped. */
  readonly runAt: Date | number | null;
}

/**
 * Applies the requests whose jobs are unlocked now and drops those whose job
 * is gone, oldest first, at most `limit`; requests for jobs still locked stay.
 * Rows another daemon is applying right now are skipped, not waited for.
 */
export async function applyReschedules(db: Db, limit = 500): Promise<AppliedReschedule[]> {
  const { rows } = await sql<{ job_id: string; run_at: Date | number | null }>`
    with due as (
      select job_id, run_at, attempts from pgmill.job_reschedules
       order by requested_at limit ${limit}::int
       for update skip locked
    ), applied as (
      select d.job_id, d.run_at
        from due d
        cross join lateral graphile_worker.reschedule_jobs(array[d.job_id], run_at => d.run_at, attempts => d.attempts) m
    ), gone as (
      select d.job_id, null::timestamptz as run_at
        from due d
       where not exists (select 1 from graphile_worker.jobs j where j.id = d.job_id)
    ), done as (
      delete from pgmill.job_reschedules r
       using (select job_id from applied union all select job_id from gone) x
       where r.job_id = x.job_id
    )
    select job_id, run_at from applied
    union all
    select job_id, run_at from gone
  `.execute(db);
  return rows.map((r) => ({ jobId: r.job_id, runAt: r.run_at }));
}

/** Of these jobs, those with a request not yet applied (the reaper and the sweep leave them to it). */
export async function jobsWithPendingReschedule(db: Db, jobIds: readonly string[]): Promise<Set<string>> {
  if (!jobIds.length) return new Set();
  const rows = await db.selectFrom("pgmill.job_reschedules").select("job_id").where("job_id", "in", [...jobIds]).execute();
  return new Set(rows.map((r) => String(r.job_id)));
}

/**
 * Applies at once the requests of these jobs, which the caller has just
 * unlocked in its transaction (the reaper releasing a dead daemon's jobs).
 * Left to the half-second loop, a parked job the dead daemon's engine never
 * failed would be unlocked and due at its old run_at with its fetch's attempt
 * counted, and a daemon fetching it first would park it again over that count
 * (the attempt spent after all).
 */
export async function applyReschedulesOf(db: Db, jobIds: readonly string[]): Promise<number> {
  if (!jobIds.length) return 0;
  const { rows } = await sql<{ job_id: string }>`
    with due as (
      select job_id, run_at, attempts from pgmill.job_reschedules
       where job_id = any(${[...jobIds]}::bigint[])
       for update skip locked
    ), applied as (
      select d.job_id
        from due d
        cross join lateral graphile_worker.reschedule_jobs(array[d.job_id], run_at => d.run_at, attempts => d.attempts) m
    ), done as (
      delete from pgmill.job_reschedules r using applied a where r.job_id = a.job_id
    )
    select job_id from applied
  `.execute(db);
  return rows.length;
}
