import { sql } from "kysely";
import type { Db } from "../db/database.js";

// The overview's reads. Each is bounded: by a time range on job_runs (served by
// job_runs_started_idx, so only the day's partitions are touched) or by the
// size of the live queue (graphile-worker's jobs view) with a LIMIT on tasks.

/** Tasks the overview lists at most. */
export const MAX_TASKS = 500;

/** Pending dead letters per task (dead_letters_pending_idx). */
export function deadCountsByTask(db: Db) {
  return db
    .selectFrom("pgmill.dead_letters")
    .select(["task", sql<number>`count(*)::int`.as("dead")])
    .where("retried_at", "is", null)
    .groupBy("task")
    .limit(MAX_TASKS)
    .execute();
}

/** Runs, p50 and p95 durations per task over the last 24 hours (the `pgmill.task_stats` view). */
export function taskStats(db: Db) {
  return db
    .selectFrom("pgmill.task_stats")
    .select(["task", "runs", "failed", "p50_ms", "p95_ms"])
    .orderBy("task")
    .limit(MAX_TASKS)
    .execute();
}

export interface Bucket {
  readonly start: Date;
  readonly succeeded: number;
  readonly failed: number;
}

/**
 * Attempts finished per bucket over the last `windowSeconds`, succeeded and
 * not (failed, timed out, dead, lost, stale). Buckets with no attempts are
 * filled in, so a chart has a bar (or a gap) for every step.
 */
export async function throughput(db: Db, windowSeconds: number, stepSeconds: number): Promise<Bucket[]> {
  const rows = await db
    .selectFrom("pgmill.job_runs")
    .select([
      sql<number>`(floor(extract(epoch from started_at) / ${stepSeconds}::int) * ${stepSeconds}::int)::float8`.as("bucket"),
      sql<number>`count(*) filter (where status = 'succeeded')::int`.as("succeeded"),
      sql<number>`count(*) filter (where status <> 'succeeded')::int`.as("failed"),
    ])
    .where("started_at", ">=", sql<Date>`now() - make_interval(secs => ${windowSeconds}::int)`)
    .groupBy(sql`1`)
    .execute();
  const counts = new Map(rows.map((r) => [r.bucket, r]));
  const last = Math.floor(Date.now() / 1000 / stepSeconds) * stepSeconds;
  const buckets: Bucket[] = [];
  for (let start = last - windowSeconds + stepSeconds; start <= last; start += stepSeconds) {
    const row = counts.get(start);
    buckets.push({ start: new Date(start * 1000), succeeded: row?.succeeded ?? 0, failed: row?.failed ?? 0 });
  }
  return buckets;
}
