import type { RunnerOptions, TaskList, WorkerEvents } from "graphile-worker";
import type pg from "pg";
import type { Config } from "../config/config.js";
import type { Logger } from "../logging/logger.js";
import type { EngineCronItem } from "./cron-adapter.js";
import { engineLogger } from "./engine-logger.js";

/** How often an idle pool looks for jobs (LISTEN/NOTIFY wakes it sooner). */
export const POLL_INTERVAL_MS = 2_000;

/**
 * graphile-worker's settings as pgmill runs it. Its defaults fetch and finish
 * one job per round trip; with the local queue and batched complete/fail on,
 * the same database serves many times the throughput (see bench/README.md).
 */
export function engineOptions(input: {
  config: Pick<Config, "concurrency" | "localQueueSize" | "batchDelayMs" | "shutdownTimeoutMs">;
  pgPool: pg.Pool;
  /** false where the pool may be a transaction-mode pooler: named statements would meet other sessions' (or none). */
  preparedStatements?: boolean;
  taskList: TaskList;
  cronItems: EngineCronItem[];
  events: WorkerEvents;
  logger: Logger;
  /** A fetch failed: graphile-worker only logs it. */
  onFetchFailure?: (message: string) => void;
}): RunnerOptions {
  const { concurrency, localQueueSize, batchDelayMs, shutdownTimeoutMs } = input.config;
  return {
    pgPool: input.pgPool,
    taskList: input.taskList,
    parsedCronItems: input.cronItems,
    events: input.events,
    logger: engineLogger(input.logger, input.onFetchFailure),
    // pgmill owns SIGTERM/SIGINT: it drains, records and releases in its own order.
    noHandleSignals: true,
    preset: {
      worker: {
        concurrentJobs: concurrency,
        preparedStatements: input.preparedStatements ?? true,
        pollInterval: POLL_INTERVAL_MS,
        localQueue: {
          size: localQueueSize,
          // Jobs locked into the local queue go back after this long idle.
          ttl: 60_000,
          // No refetchDelay: a new-job NOTIFY that lands during the delay
          // waits for the next poll (2 s stalls; 0.17.3 and 0.18.0 alike, no
          // upstream issue yet; guard: tests/engine/engine-quirks.test.ts).
        },
        completeJobBatchDelay: batchDelayMs,
        failJobBatchDelay: batchDelayMs,
        // The drain budget: running jobs get this long before their signal aborts.
        gracefulShutdownAbortTimeout: shutdownTimeoutMs,
      },
    },
  };
}
