import type { ColumnType, Generated } from "kysely";

/** Types of the tables and views pgmill reads and writes (see `sql/`). */

/** Every status a history row can have: the SQL check (sql/0005, sql/0009), metrics labels, the CLI and types share it. */
export const RUN_STATUSES = ["succeeded", "failed", "timed_out", "dead", "lost", "stale", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export type DeadLetterReason = "max_attempts" | "permanent_error" | "invalid_payload" | "daemon_lost";

type Json = ColumnType<unknown, string, string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface JobRunsTable {
  id: string;
  job_id: ColumnType<string, string | number, never>;
  task: string;
  queue: string | null;
  job_key: string | null;
  attempt: number;
  max_attempts: number;
  status: RunStatus;
  error_message: string | null;
  error_stack: string | null;
  started_at: Timestamp;
  finished_at: Timestamp;
  duration_ms: number;
  daemon_id: string;
  payload: Json | null;
}

export interface DeadLettersTable {
  id: Generated<string>;
  job_id: ColumnType<string, string | number, never>;
  job_revision: number;
  task: string;
  payload: Json;
  queue: string | null;
  priority: number;
  job_key: string | null;
  flags: string[] | null;
  attempts: number;
  max_attempts: number;
  job_created_at: Timestamp | null;
  reason: DeadLetterReason;
  last_error: string | null;
  last_error_stack: string | null;
  died_at: Generated<Date>;
  daemon_id: string | null;
  retried_at: Date | null;
  retried_as_job_id: string | null;
}

export interface TaskStatsView {
  task: string;
  runs: string;
  succeeded: string;
  failed: string;
  success_rate: string | null;
  p50_ms: number | null;
  p95_ms: number | null;
  last_success: Date | null;
  last_failure: Date | null;
}

export interface KnownCrontabsView {
  identifier: string;
  known_since: Date;
  last_execution: Date | null;
}

export type DaemonRowState = "starting" | "running" | "draining" | "stopped" | "dead";

export interface DaemonsTable {
  id: string;
  host: string;
  pid: number;
  version: string;
  started_at: Generated<Date>;
  last_seen: Generated<Date>;
  worker_ids: string[];
  state: DaemonRowState;
  jobs_in_flight: number;
  reaped_by: string | null;
  reaped_at: Date | null;
}

/** `requested`: a daemon aborts the running attempt; `removed`: a queued job cancel_job removed, not yet counted. */
export type CancelRequestState = "requested" | "removed";

export interface CancelRequestsTable {
  job_id: ColumnType<string, string | number, never>;
  task: string;
  state: CancelRequestState;
  requested_at: Generated<Date>;
  requested_by: Generated<string>;
}

/** Why a daemon asked for a job to be rescheduled: a retry at the task's schedule, or a park (sql/0008). */
export const RESCHEDULE_REASONS = ["retry", "paused", "concurrency", "rate_limit"] as const;
export type RescheduleReason = (typeof RESCHEDULE_REASONS)[number];

export interface JobReschedulesTable {
  job_id: ColumnType<string, string | number, never>;
  run_at: Timestamp;
  attempts: number | null;
  reason: RescheduleReason;
  requested_at: Generated<Date>;
}

export interface PausedTasksTable {
  task: string;
  paused_at: Generated<Date>;
  paused_by: Generated<string>;
}

export interface HeldJobsTable {
  job_id: ColumnType<string, string | number, never>;
  task: string;
  run_at: Timestamp;
  held_at: Generated<Date>;
}

/** The crontab lines the daemons last loaded (sql/0010). */
export interface CronLinesTable {
  identifier: string;
  task: string;
  payload: Json;
  options: Json;
  schedule: string;
  timezone: string | null;
  overlap: "allow" | "skip";
  last_tick_at: Timestamp | null;
  next_tick_at: Timestamp | null;
  last_manual_run_at: Timestamp | null;
  published_by: string;
  published_at: Generated<Date>;
}

/** Pause windows of crontab lines; `resumed_at` null while paused (sql/0010). */
export interface CronPausesTable {
  id: Generated<string>;
  identifier: string;
  paused_at: Generated<Date>;
  resumed_at: Timestamp | null;
}

export interface CronEveryTicksTable {
  identifier: string;
  last_tick: Timestamp;
}

export interface CronOverlapSkipsTable {
  identifier: string;
  tick: Timestamp;
}

/** A concurrency slot held by a running attempt of a limited task (sql/0011). */
export interface TaskSlotsTable {
  job_id: ColumnType<string, string | number, never>;
  task: string;
  lock_id: string;
  daemon_id: string;
  taken_at: Generated<Date>;
}

/** A job refused a slot, woken (made due) when one frees (sql/0011). */
export interface TaskSlotWaitersTable {
  job_id: ColumnType<string, string | number, never>;
  task: string;
  since: Generated<Date>;
}

/** A rate-limited task's current fixed window (sql/0011). */
export interface TaskRateWindowsTable {
  task: string;
  window_start: Timestamp;
  started: number;
  refused: number;
}

export interface Database {
  "pgmill.task_slots": TaskSlotsTable;
  "pgmill.task_slot_waiters": TaskSlotWaitersTable;
  "pgmill.task_rate_windows": TaskRateWindowsTable;
  "pgmill.job_reschedules": JobReschedulesTable;
  "pgmill.paused_tasks": PausedTasksTable;
  "pgmill.held_jobs": HeldJobsTable;
  "pgmill.cron_lines": CronLinesTable;
  "pgmill.cron_pauses": CronPausesTable;
  "pgmill.cron_every_ticks": CronEveryTicksTable;
  "pgmill.cron_overlap_skips": CronOverlapSkipsTable;
  "pgmill.daemons": DaemonsTable;
  "pgmill.job_runs": JobRunsTable;
  "pgmill.dead_letters": DeadLettersTable;
  "pgmill.task_stats": TaskStatsView;
  "pgmill.cancel_requests": CancelRequestsTable;
}
