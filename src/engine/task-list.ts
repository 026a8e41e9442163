import type { JobHelpers, TaskList } from "graphile-worker";
import type { JobInfo } from "../tasks/define-task.js";
import { splitCronMetadata } from "./cron-adapter.js";
import { runAtDate } from "./run-at.js";

/** A claimed job as pgmill's attempt runner sees it, free of the engine's shapes: what a handler sees, and more. */
export interface ClaimedJob extends JobInfo {
  readonly revision: number;
  readonly flags: string[] | null;
  /** The pool or worker id whose lock the engine claimed it under. */
  readonly lockedBy: string | null;
  /** The payload as stored (what history and dead letters keep). */
  readonly storedPayload: unknown;
  /** The payload the handler's schema checks: the stored one without cron's metadata. */
  readonly input: unknown;
  /** The pool's signal: aborted when graphile-worker gives up waiting at shutdown. */
  readonly engineSignal: AbortSignal;
}

/** Runs one attempt; resolving completes the job, throwing fails it (graphile-worker schedules the retry). */
export type RunAttempt = (job: ClaimedJob) => Promise<void>;

/** The task list graphile-worker runs: every task name handed to `run`. */
export function engineTaskList(taskNames: readonly string[], run: RunAttempt): TaskList {
  const list: TaskList = {};
  for (const name of taskNames) list[name] = async (payload, helpers) => run(await claimedJob(payload, helpers));
  return list;
}

async function claimedJob(payload: unknown, helpers: JobHelpers): Promise<ClaimedJob> {
  const { job } = helpers;
  const { payload: input, cron } = splitCronMetadata(payload);
  return {
    id: job.id,
    task: job.task_identifier,
    queue: await helpers.getQueueName(),
    key: job.key,
    attempt: job.attempts,
    maxAttempts: job.max_attempts,
    priority: job.priority,
    runAt: runAtDate(job.run_at),
    createdAt: job.created_at,
    revision: job.revision,
    flags: job.flags ? Object.keys(job.flags) : null,
    lockedBy: job.locked_by,
    storedPayload: job.payload,
    input,
    cron,
    engineSignal: helpers.abortSignal,
  };
}
