import type { WorkerEvents } from "graphile-worker";

/** A job locked by one of a pool's ids, as the database sees it. */
export interface LockedJob {
  id: string;
  lockedForSeconds: number;
}

/** Locked this long without the pool ever receiving the job: nobody will run or release it. */
export const ORPHAN_AFTER_SECONDS = 10;

/**
 * Finds jobs a live pool holds but never received. graphile-worker's fetch
 * locks jobs in one statement; if the statement commits but its answer never
 * arrives (a pooler restarted between the two: chaos `pooler-restart`), the
 * engine logs "Error occurred fetching jobs" and goes on, while the jobs stay
 * locked by its pool id, alive and never reaped, for the engine's four-hour
 * lock timeout. No upstream issue yet; guard: tests/engine/orphan-locks.test.ts.
 *
 * Every job the engine hands over (a local-queue fetch, a worker starting one)
 * is noted with the time; a note is dropped only once an audit sees the job
 * unlocked after it was noted. A job locked by the pool for longer than
 * ORPHAN_AFTER_SECONDS that was never noted is an orphan.
 */
export class HandedJobs {
  private readonly handedAt = new Map<string, number>();

  constructor(events: WorkerEvents) {
    events.on("localQueue:getJobs:complete", ({ jobs }) => this.note(jobs));
    events.on("job:start", ({ job }) => this.note([job]));
  }

  private note(jobs: ReadonlyArray<{ id: string }>): void {
    const now = Date.now();
    for (const job of jobs) this.handedAt.set(job.id, now);
  }

  /**
   * The orphans among `locked` (every job the pool's ids lock, read at
   * `readAt`), forgetting the notes of jobs no longer locked. A note taken
   * after the read may be for a job the read saw unlocked: it is kept.
   */
  audit(locked: readonly LockedJob[], readAt: number): string[] {
    const lockedIds = new Set(locked.map((job) => job.id));
    for (const [id, at] of this.handedAt) {
      if (at < readAt && !lockedIds.has(id)) this.handedAt.delete(id);
    }
    return locked.filter((job) => job.lockedForSeconds >= ORPHAN_AFTER_SECONDS && !this.handedAt.has(job.id)).map((job) => job.id);
  }
}
