import type { Db } from "../db/database.js";
import type { RunStatus } from "../db/schema.js";

export interface HistoryFilter {
  readonly task?: string;
  readonly status?: RunStatus;
  readonly since?: Date;
  readonly jobId?: string;
  readonly limit: number;
}

/** Attempts, newest first. */
export function listHistory(db: Db, filter: HistoryFilter) {
  let query = db
    .selectFrom("pgmill.job_runs")
    .select(["job_id", "task", "attempt", "max_attempts", "status", "started_at", "duration_ms", "error_message", "daemon_id"])
    .orderBy("started_at", "desc")
    .limit(filter.limit);
  if (filter.task) query = query.where("task", "=", filter.task);
  if (filter.status) query = query.where("status", "=", filter.status);
  if (filter.since) query = query.where("started_at", ">=", filter.since);
  if (filter.jobId) query = query.where("job_id", "=", filter.jobId);
  return query.execute();
}
