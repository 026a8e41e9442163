import type { WorkerEvents } from "graphile-worker";

/** What the engine does against the database on its own: fetch jobs, and write back their completions and failures. */
export type EngineOperation = "fetch" | "complete";

export interface EngineOutcomes {
  failed(operation: EngineOperation, message: string): void;
  succeeded(operation: EngineOperation): void;
}

/**
 * graphile-worker 0.18's local queue logs a failed fetch and emits no event
 * for it (its next try is the next poll); this is the line. Guard:
 * tests/daemon/readiness-engine.test.ts.
 */
const FETCH_FAILED_LINE = "Error occurred fetching jobs";

export function isFetchFailureLine(message: string): boolean {
  return message.startsWith(FETCH_FAILED_LINE);
}

/**
 * Reports the engine's own database work as it goes: a local-queue fetch that
 * returned (even nothing) succeeded; a completion or failure batch the engine
 * could not write ends in `pool:fatalError`. A completion's success has no
 * event (the batch commits later), so only its failures are reported. Fetch
 * failures come from the engine's log line (see `engineLogger`).
 * `worker:getJob:empty` is no success: pgmill always runs a local queue, and
 * a worker finds it empty without asking the database (while the database is
 * unreachable, too), which reset the streak and kept /readyz at 200 through
 * the pooler-restart chaos scenario.
 */
export function onEngineOutcomes(events: WorkerEvents, report: EngineOutcomes): void {
  events.on("localQueue:getJobs:complete", () => report.succeeded("fetch"));
  events.on("worker:getJob:error", ({ error }) => report.failed("fetch", messageOf(error)));
  events.on("pool:fatalError", ({ error }) => report.failed("complete", messageOf(error)));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
