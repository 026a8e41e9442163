import { sql } from "kysely";
import type { Db } from "../db/database.js";
import { MAX_ERROR_MESSAGE_BYTES, storableText, toJsonb } from "../ledger/entry.js";

interface RemovedJob {
  id: string;
  payload: unknown;
  priority: number;
  attempts: number;
  max_attempts: number;
  revision: number;
  key: string | null;
  flags: Record<string, true> | null;
  created_at: Date;
  last_error: string | null;
}

export interface SweepResult {
  /** Jobs graphile-worker held as permanently failed, now dead letters. */
  readonly moved: number;
  /** Jobs already dead-lettered whose removal from graphile-worker was unfinished. */
  readonly finished: number;
}

/**
 * Finishes every half-done move to dead letters, in one transaction:
 * - a job already in `pgmill.dead_letters` but still in graphile-worker (the
 *   daemon died between writing the letter and completing the job) is removed;
 * - a job graphile-worker holds as permanently failed (attempts used up, e.g.
 *   force-failed at shutdown) becomes a dead letter and is removed.
 * Only unlocked jobs are touched; a locked one may be running somewhere.
 * `complete_jobs` (graphile-worker's public API) returns the removed rows with
 * their payloads, so nothing is read from its private tables.
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
    if (!candidates.length) return { moved: 0, finished: 0 };

    const removed = await sql<RemovedJob>`
      select * from graphile_worker.complete_jobs(${candidates.map((c) => c.id)}::bigint[])
    `.execute(trx);
    const byId = new Map(candidates.map((c) => [c.id, c]));
    for (const job of removed.rows) {
      // Changed since we looked (replaced through its job key)? Leave it alone.
      if (job.revision !== byId.get(job.id)?.revision) throw new SweepRaceError(job.id);
    }

    const toMove = removed.rows.filter((job) => byId.get(job.id)!.dead_letter_id === null);
    if (toMove.length) {
      await trx
        .insertInto("pgmill.dead_letters")
        .values(
          toMove.map((job) => ({
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
            reason: "max_attempts" as const,
            last_error: job.last_error === null ? null : storableText(job.last_error, MAX_ERROR_MESSAGE_BYTES),
            daemon_id: daemonId,
          })),
        )
        .onConflict((oc) => oc.column("job_id").doNothing())
        .execute();
    }
    return { moved: toMove.length, finished: removed.rows.length - toMove.length };
  });
}

/** A job changed between our read and its removal; the transaction rolls back and the next sweep retries. */
export class SweepRaceError extends Error {
  constructor(jobId: string) {
    super(`job ${jobId} changed during the dead-letter sweep; will retry`);
    this.name = "SweepRaceError";
  }
}
