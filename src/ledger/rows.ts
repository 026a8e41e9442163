import {
  MAX_ERROR_MESSAGE_BYTES,
  MAX_ERROR_STACK_BYTES,
  storableText,
  toJsonb,
  type DeadLetterRecord,
  type RescheduleRecord,
  type RunRecord,
} from "./entry.js";

/** A history row as `pgmill.job_runs` stores it. */
export function jobRunRow(run: RunRecord) {
  return {
    id: run.id,
    job_id: run.jobId,
    task: run.task,
    queue: run.queue,
    job_key: run.jobKey,
    attempt: run.attempt,
    max_attempts: run.maxAttempts,
    status: run.status,
    error_message: run.error ? storableText(run.error.message, MAX_ERROR_MESSAGE_BYTES) : null,
    error_stack: run.error?.stack ? storableText(run.error.stack, MAX_ERROR_STACK_BYTES) : null,
    started_at: run.startedAt,
    finished_at: run.finishedAt,
    duration_ms: run.durationMs,
    daemon_id: run.daemonId,
    payload: run.payload === null || run.payload === undefined ? null : toJsonb(run.payload),
  };
}

/** A dead letter as `pgmill.dead_letters` stores it. */
export function deadLetterRow(dl: DeadLetterRecord, lastError: RunRecord["error"]) {
  return {
    job_id: dl.jobId,
    job_revision: dl.jobRevision,
    task: dl.task,
    payload: toJsonb(dl.payload ?? null),
    queue: dl.queue,
    priority: dl.priority,
    job_key: dl.jobKey,
    flags: dl.flags,
    attempts: dl.attempts,
    max_attempts: dl.maxAttempts,
    job_created_at: dl.jobCreatedAt,
    reason: dl.reason,
    last_error: lastError ? storableText(lastError.message, MAX_ERROR_MESSAGE_BYTES) : null,
    last_error_stack: lastError?.stack ? storableText(lastError.stack, MAX_ERROR_STACK_BYTES) : null,
    daemon_id: dl.daemonId,
  };
}

/** A retry request as `pgmill.job_reschedules` stores it. */
export function rescheduleRow(jobId: string, request: RescheduleRecord) {
  return { job_id: jobId, run_at: request.runAt, attempts: request.attempts, reason: request.reason };
}
