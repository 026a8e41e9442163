import { Logger as GraphileLogger, type LogLevel } from "graphile-worker";
import type { Logger } from "../logging/logger.js";
import { isFetchFailureLine } from "./engine-failures.js";

/**
 * Routes graphile-worker's own log lines into pino. Its per-job "completed" and
 * connection chatter is `info` there; we log each attempt ourselves, so its info
 * becomes our debug and only its warnings and errors stay loud.
 */
export function engineLogger(logger: Logger, onFetchFailure?: (message: string) => void): GraphileLogger {
  const engine = logger.child({ component: "graphile-worker" });
  return new GraphileLogger(() => (level: LogLevel, message: string, meta?: unknown) => {
    if (onFetchFailure && isFetchFailureLine(message)) onFetchFailure(message);
    const fields = meta && typeof meta === "object" ? { meta: summarise(meta) } : {};
    // Job failures are already in pgmill's own line for each attempt.
    const isJobFailure = (meta as { failure?: unknown } | undefined)?.failure === true;
    const severity: string = isJobFailure || isPoolSizeAdvice(message) || isReleasedQueueNoise(message) ? "debug" : level;
    if (severity === "error") engine.error(fields, message);
    else if (severity === "warning") engine.warn(fields, message);
    else engine.debug(fields, message);
  });
}

/**
 * graphile-worker warns when the pool is smaller than the concurrency, since
 * its tasks may query through it. pgmill's handlers get no connection, so the
 * pool is sized for the engine and the ledger (PGMILL_DB_POOL_SIZE).
 */
function isPoolSizeAdvice(message: string): boolean {
  return message.includes("smaller than concurrency");
}

/**
 * graphile-worker 0.18 stops a pool whose local queue holds jobs by marking the
 * queue released and then returning the jobs through a helper that refuses to
 * run on a released queue: the jobs are returned (the query starts first), but
 * six error lines follow, on every drain under load. No upstream issue yet;
 * guard: tests/engine/engine-quirks.test.ts.
 */
export function isReleasedQueueNoise(text: string): boolean {
  return text.includes("Cannot background something when the queue is already released") || text.includes("Errors occurred whilst deactivating queue");
}

/** graphile-worker's meta can hold whole jobs (payloads included); keep ids only. */
function summarise(meta: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) {
    if (key === "error" && value instanceof Error) out.error = value.message;
    else if (key === "job" && value && typeof value === "object" && "id" in value) out.jobId = value.id;
    else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[key] = value;
  }
  return out;
}
