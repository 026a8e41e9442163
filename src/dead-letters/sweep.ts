import type { Db } from "../db/database.js";
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
    const candidates = await trx
      .selectFrom("graphile_worker.jobs as j")
      .leftJoin("pgmill.dead_letters as d", (join) =>
        join.onRef("d.job_id", "=", "j.id").onRef("d.job_revision", "=", "j.revision").on("d.retried_at", "is", null),
      )
      .select(["j.id", "j.task_identifier", "j.queue_name", "j.revision", "d.id as dead_letter_id"])
      .where("j.locked_at", "is", null)
      .where((eb) => eb.or([eb("j.attempts", ">=", eb.ref("j.max_attempts")), eb("d.id", "is not", null)]))
      .limit(1000)
      .execute();
    const jobs = candidates.map((c) => ({ ...c, needsLetter: c.dead_letter_id === null }));
    const lettered = await moveToDeadLetters(trx, jobs, { reason: "max_attempts", daemonId });
    return {
      moved: lettered.length,
      finished: jobs.length - jobs.filter((j) => j.needsLetter).length,
      movedTasks: lettered.map((j) => j.task_identifier),
    };
  });
}
