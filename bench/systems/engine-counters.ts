import type { WorkerEvents } from "graphile-worker";

export interface EngineCounts {
  /** Local-queue fetches from the database. */
  readonly fetches: number;
  /** Of those, fetches that came back with no job. */
  readonly emptyFetches: number;
  /** Refetch delays started (each blocks fetching for 50-150 ms unless enough NOTIFYs abort it). */
  readonly refetchDelays: number;
  readonly refetchDelayMs: number;
}

/**
 * Counts graphile-worker's local-queue events, for the engines that have one
 * (pgmill and graphile-worker tuned): explains latency tails in the report.
 */
export class EngineCounters {
  private counts = { fetches: 0, emptyFetches: 0, refetchDelays: 0, refetchDelayMs: 0 };

  attach(events: WorkerEvents): void {
    events.on("localQueue:getJobs:complete", ({ jobs }) => {
      this.counts.fetches++;
      if (jobs.length === 0) this.counts.emptyFetches++;
    });
    events.on("localQueue:refetchDelay:start", ({ delayMs }) => {
      this.counts.refetchDelays++;
      this.counts.refetchDelayMs += delayMs;
    });
  }

  /** The counts since the last call. */
  take(): EngineCounts {
    const counts = { ...this.counts, refetchDelayMs: Math.round(this.counts.refetchDelayMs) };
    this.counts = { fetches: 0, emptyFetches: 0, refetchDelays: 0, refetchDelayMs: 0 };
    return counts;
  }
}
