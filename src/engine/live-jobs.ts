import { sql } from "kysely";
import type { Db } from "../db/database.js";
import { withEngineTables } from "./jobs-view.js";

// The dashboard's reads of live jobs (graphile-worker's public jobs view):
// bounded by a LIMIT, paged by id, the view's primary key.

/** The dashboard's states of a live job (see liveCountsByTask). */
export const LIVE_STATES = ["queued", "scheduled", "running", "failed"] as const;
export type LiveState = (typeof LIVE_STATES)[number];

export interface LiveJobFilter {
  readonly task?: string;
  readonly state?: LiveState;
  readonly queue?: string;
  /** Created at or after / before. */
  readonly from?: Date;
  readonly to?: Date;
  /** Paging: only ids below this one. */
  readonly before?: string;
  readonly limit: number;
}

/** Live jobs from graphile-worker's public view, newest first, paged by id (its primary key). */
export function listLiveJobs(db: Db, filter: LiveJobFilter) {
  let query = withEngineTables(db)
    .selectFrom("graphile_worker.jobs")
    .select(["id", "task_identifier as task", "queue_name as queue", "priority", "run_at", "attempts", "max_attempts", "last_error", "created_at", "locked_at", "locked_by", "key"])
    .orderBy("id", "desc")
    .limit(filter.limit);
  if (filter.task) query = query.where("task_identifier", "=", filter.task);
  if (filter.queue) query = query.where("queue_name", "=", filter.queue);
  if (filter.from) query = query.where("created_at", ">=", filter.from);
  if (filter.to) query = query.where("created_at", "<", filter.to);
  if (filter.before) query = query.where("id", "<", filter.before);
  switch (filter.state) {
    case "running":
      return query.where("locked_at", "is not", null).execute();
    case "failed":
      return query.where("locked_at", "is", null).where("last_error", "is not", null).execute();
    case "scheduled":
      return query.where("locked_at", "is", null).where("last_error", "is", null).where("run_at", ">", sql<Date>`now()`).execute();
    case "queued":
      return query.where("locked_at", "is", null).where("last_error", "is", null).where("run_at", "<=", sql<Date>`now()`).execute();
    default:
      return query.execute();
  }
}

export function liveJob(db: Db, id: string) {
  return withEngineTables(db)
    .selectFrom("graphile_worker.jobs")
    .select(["id", "task_identifier as task", "queue_name as queue", "priority", "run_at", "attempts", "max_attempts", "last_error", "created_at", "locked_at", "locked_by", "key"])
    .where("id", "=", id)
    .executeTakeFirst();
}

/**
 * Live jobs per task, by the dashboard's states: running (locked), failed (its
 * last attempt failed; waiting for a retry or the dead-letter sweep),
 * scheduled (due later), queued (due now).
 */
export function liveCountsByTask(db: Db, maxTasks: number) {
  return withEngineTables(db)
    .selectFrom("graphile_worker.jobs")
    .select([
      "task_identifier as task",
      sql<number>`count(*) filter (where locked_at is null and last_error is null and run_at <= now())::int`.as("queued"),
      sql<number>`count(*) filter (where locked_at is null and last_error is null and run_at > now())::int`.as("scheduled"),
      sql<number>`count(*) filter (where locked_at is not null)::int`.as("running"),
      sql<number>`count(*) filter (where locked_at is null and last_error is not null)::int`.as("failed"),
    ])
    .groupBy("task_identifier")
    .orderBy("task_identifier")
    .limit(maxTasks)
    .execute();
}
