import type pg from "pg";
import type { JobKind } from "../lib/probe.js";

/** Rows per `add_jobs` call: one set-based insert each, bounded so 1M jobs do not build one giant array. */
const CHUNK = 50_000;

export type BulkPayload = { readonly kind: JobKind } | { readonly constant: object };

/**
 * Enqueues jobs `first … first + n - 1` with graphile_worker.add_jobs (one
 * statement per chunk, payloads built in SQL), as graphile-worker and pgmill
 * both take them. Payload: `{i, k}` for bench jobs, or a constant.
 */
export async function addJobsInBulk(
  db: pg.Pool | pg.Client,
  task: string,
  n: number,
  payload: BulkPayload,
  first = 0,
  maxAttempts = 25,
): Promise<void> {
  for (let start = first; start < first + n; start += CHUNK) {
    const end = Math.min(first + n, start + CHUNK) - 1;
    const [payloadSql, params] =
      "kind" in payload
        ? ["json_build_object('i', g, 'k', $5::text)", [payload.kind]]
        : ["$5::json", [JSON.stringify(payload.constant)]];
    await db.query(
      `select count(*) from graphile_worker.add_jobs(array(
         select row($1::text, ${payloadSql}, null, null, $4::int, null, null, null)::graphile_worker.job_spec
           from generate_series($2::int, $3::int) g
       ))`,
      [task, start, end, maxAttempts, ...params],
    );
  }
}

export async function addOneJob(db: pg.Pool | pg.Client, task: string, payload: object): Promise<void> {
  await db.query("select graphile_worker.add_job($1::text, $2::json, max_attempts => 25)", [task, JSON.stringify(payload)]);
}

/** Jobs graphile-worker still holds: waiting, running, or waiting for a retry. */
export async function graphileJobsLeft(db: pg.Pool | pg.Client): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select count(*)::int as n from graphile_worker._private_jobs");
  return rows[0]!.n;
}
