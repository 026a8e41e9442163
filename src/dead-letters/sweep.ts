import type { Db } from "../db/database.js";
import { jobsToDeadLetter } from "../engine/job-reads.js";
import { moveToDeadLetters } from "./move-to-dead-letters.js";

export interface SweepResult {
  /** Jobs graphile-worker held as permanently failed, now dead letters. */
  readonly moved: number;
  /** Jobs already dead-lettered whose removal from graphile-worker was unfinished. */
  readonly finished: number;
  /** The task of each job moved. */
  readonly movedTasks: readonly string[];
}

/**
 * Finishes every half-done move to dead letters, in one transaction:
 * - a job already in `pgmill.dead_letters` but still in graphile-worker (the
 *   daemon died between writing the letter and completing the job) is removed;
 * - a job graphile-worker holds as permanently failed (attempts used up, e.g.
 *   force-failed at shutdown) becomes a dead letter and is removed.
 * Only unlocked jobs are touched; a locked one may be running somewhere.
 */
export async function sweepDeadLetters(db: Db, daemonId: string): Promise<SweepResult> {
  return db.transaction().execute(async (trx) => {
    const candidates = await jobsToDeadLetter(trx, 1000);
    const jobs = candidates.map((c) => ({ ...c, needsLetter: c.dead_letter_id === null }));
    const lettered = await moveToDeadLetters(trx, jobs, { reason: "max_attempts", daemonId });
    return {
      moved: lettered.length,
      finished: jobs.length - jobs.filter((j) => j.needsLetter).length,
      movedTasks: lettered.map((j) => j.task_identifier),
    };
  });
}
