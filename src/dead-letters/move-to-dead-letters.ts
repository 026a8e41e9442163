import type { Transaction } from "kysely";
import type { Database, DeadLetterReason } from "../db/schema.js";
import { removeUnlockedJobs } from "../engine/job-writes.js";
import { MAX_ERROR_MESSAGE_BYTES, storableText, toJsonb } from "../ledger/entry.js";

/** A job as read from graphile-worker's public `jobs` view, about to leave it. */
export interface LeavingJob {
  readonly id: string;
  readonly task_identifier: string;
  readonly queue_name: string | null;
  readonly revision: number;
  /** False when a dead letter already exists and only the removal is unfinished. */
  readonly needsLetter: boolean;
  /** Why it died, when not graphile-worker's own last error. */
  readonly lastError?: string;
}

/**
 * Removes unlocked jobs from graphile-worker with its public `complete_jobs`
 * (which hands back the rows, payloads included) and writes their dead letters,
 * in the caller's transaction. A job that changed since it was read (replaced
 * through its job key) aborts the transaction: the next pass looks again.
 * Returns the jobs that got a new dead letter.
 */
export async function moveToDeadLetters(
  trx: Transaction<Database>,
  jobs: readonly LeavingJob[],
  letter: { reason: DeadLetterReason; daemonId: string },
): Promise<LeavingJob[]> {
  if (!jobs.length) return [];
  const removed = await removeUnlockedJobs(trx, jobs.map((j) => j.id));
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const job of removed) {
    if (job.revision !== byId.get(job.id)?.revision) throw new JobChangedError(job.id);
  }
  const toLetter = removed.filter((job) => byId.get(job.id)!.needsLetter);
  if (toLetter.length) {
    await trx
      .insertInto("pgmill.dead_letters")
      .values(
        toLetter.map((job) => {
          const lastError = byId.get(job.id)!.lastError ?? job.last_error;
          return {
            job_id: job.id,
            job_revision: job.revision,
            task: byId.get(job.id)!.task_identifier,
            payload: toJsonb(job.payload),
            queue: byId.get(job.id)!.queue_name,
            priority: job.priority,
            job_key: job.key,
            flags: job.flags ? Object.keys(job.flags) : null,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            job_created_at: job.created_at,
            reason: letter.reason,
            last_error: lastError === null ? null : storableText(lastError, MAX_ERROR_MESSAGE_BYTES),
            daemon_id: letter.daemonId,
          };
        }),
      )
      .onConflict((oc) => oc.column("job_id").doNothing())
      .execute();
  }
  return toLetter.map((job) => byId.get(job.id)!);
}

/** A job changed between our read and its removal; the transaction rolls back and the next pass retries. */
export class JobChangedError extends Error {
  constructor(jobId: string) {
    super(`job ${jobId} changed while moving it to dead letters; will retry`);
    this.name = "JobChangedError";
  }
}
