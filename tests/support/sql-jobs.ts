import { sql } from "kysely";
import type { Db } from "../../src/db/database.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

/** Inserts a job the way an application's SQL would: graphile_worker.add_job. */
export async function addJobWithSql(
  db: Db,
  task: string,
  payload: unknown,
  /** `runAt` is any timestamptz input: an ISO time, or `infinity`. */
  options: { maxAttempts?: number; jobKey?: string; runAt?: string; queue?: string } = {},
): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    select (graphile_worker.add_job(
      ${task},
      ${JSON.stringify(payload)}::json,
      max_attempts => ${options.maxAttempts ?? null}::int,
      job_key => ${options.jobKey ?? null}::text,
      run_at => ${options.runAt ?? null}::timestamptz,
      queue_name => ${options.queue ?? null}::text
    )).id as id
  `.execute(db);
  return rows[0]!.id;
}

/** `count` jobs of `task` with an empty payload in one statement: one NOTIFY, so the first fetch sees them all. */
export async function addJobsAtOnce(db: Db, task: string, count: number): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select id from graphile_worker.add_jobs(array(
      select row(${task}, '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec from generate_series(1, ${count}::int)
    ))
  `.execute(db);
  return rows.map((r) => r.id);
}

/** Makes a job due now (skipping graphile-worker's retry backoff) so retry tests stay quick. */
export async function makeDueNow(db: Db, jobId: string): Promise<void> {
  await sql`select graphile_worker.reschedule_jobs(array[${jobId}::bigint], run_at => now())`.execute(db);
}

export function runsOf(db: Db, jobId: string) {
  return db.selectFrom("pgmill.job_runs").selectAll().where("job_id", "=", jobId).orderBy("attempt").execute();
}

/** Every attempt of the jobs in named queue `queue` (null: jobs in no queue), in start order. */
export function runsInQueue(db: Db, queue: string | null) {
  return db
    .selectFrom("pgmill.job_runs")
    .selectAll()
    .where("queue", queue === null ? "is" : "=", queue)
    .orderBy("started_at")
    .execute();
}

export function deadLetterOf(db: Db, jobId: string) {
  return db.selectFrom("pgmill.dead_letters").selectAll().where("job_id", "=", jobId).executeTakeFirst();
}

export function jobInEngine(db: Db, jobId: string) {
  return withEngineTables(db).selectFrom("graphile_worker.jobs").selectAll().where("id", "=", jobId).executeTakeFirst();
}
