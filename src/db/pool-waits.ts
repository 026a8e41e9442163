import type pg from "pg";
import type { Logger } from "../logging/logger.js";

/** A wait this long means the pool was starved, not merely busy for a moment: worth a log line. */
export const STARVED_WAIT_MS = 1_000;
/** At most one starvation line per this long. */
const LOG_EVERY_MS = 60_000;

/**
 * Reports each checkout that had to queue for one of the pool's connections
 * (every connection busy and the pool at its size), with how long it waited.
 * pg's pool only counts the waiters of the moment (`waitingCount`); this
 * times them, so starvation shows as counters and a log line, not as slowness.
 */
export function watchPoolWaits(pool: pg.Pool, onWait: (seconds: number) => void): void {
  const connect = pool.connect.bind(pool) as (callback?: (...args: unknown[]) => void) => Promise<pg.PoolClient> | undefined;
  const timed = (callback?: (...args: unknown[]) => void) => {
    const queued = pool.waitingCount > 0 || (pool.idleCount === 0 && pool.totalCount >= pool.options.max);
    if (!queued) return connect(callback);
    const since = performance.now();
    const done = () => onWait((performance.now() - since) / 1000);
    if (callback) return connect((...args) => (done(), callback(...args)));
    return connect()!.finally(done);
  };
  pool.connect = timed as typeof pool.connect;
}

/** Sums waits and logs, at most once a minute, when a wait was long enough to call the pool starved. */
export class StarvationLog {
  private waits = 0;
  private longestMs = 0;
  private lastLogged = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly logger: Logger,
    private readonly poolSize: number,
  ) {}

  record(seconds: number): void {
    this.waits++;
    this.longestMs = Math.max(this.longestMs, seconds * 1000);
    const now = performance.now();
    if (this.longestMs < STARVED_WAIT_MS || now - this.lastLogged < LOG_EVERY_MS) return;
    this.logger.warn(
      { waits: this.waits, longestWaitMs: Math.round(this.longestMs), poolSize: this.poolSize },
      `database pool starved: ${this.waits} checkouts waited for a connection (longest ${Math.round(this.longestMs)} ms) with all ` +
        `PGMILL_DB_POOL_SIZE=${this.poolSize} busy; raise PGMILL_DB_POOL_SIZE (behind a pooler, its pool too)`,
    );
    this.lastLogged = now;
    this.waits = 0;
    this.longestMs = 0;
  }
}
