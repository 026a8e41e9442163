import type { Db } from "../db/database.js";
import { requestPark } from "../engine/job-reschedules.js";
import type { ClaimedJob } from "../engine/task-list.js";
import type { RescheduleService } from "./reschedule-service.js";
import type { ParkReason } from "./task-gate.js";

/**
 * Hands a claimed job back unrun: a request to put it back (at `until`, or
 * held while its task is paused) with the attempts it had before this fetch,
 * written while this daemon still holds it. The caller then throws
 * `JobParkedError`, so the engine fails (releases) the job, and the request is
 * applied right after. No history row: nothing ran.
 */
export class Parking {
  constructor(
    private readonly db: Db,
    private readonly reschedules: Pick<RescheduleService, "applySoon">,
  ) {}

  /** False when this daemon no longer holds the job's lock (nothing written). */
  async park(job: ClaimedJob, verdict: { reason: ParkReason; until: Date | null }, heldBy: readonly string[]): Promise<boolean> {
    const written = await requestPark(this.db, {
      jobId: job.id,
      task: job.task,
      heldBy,
      until: verdict.until,
      runAt: job.runAt,
      attempts: Math.max(0, job.attempt - 1),
      reason: verdict.reason,
    });
    if (written) this.reschedules.applySoon();
    return written;
  }

  /** A retry request went in with an attempt's history row: apply it once the engine has failed the job. */
  retryRequested(): void {
    this.reschedules.applySoon();
  }
}

/** Thrown for a parked job so the engine fails (releases) it; its last_error reads "parked: <reason>". */
export class JobParkedError extends Error {
  constructor(readonly reason: ParkReason) {
    super(`parked: ${reason} (not run, attempt not spent)`);
    this.name = "JobParkedError";
  }
}
