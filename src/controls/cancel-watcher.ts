import type { Db } from "../db/database.js";
import type { DaemonEvents } from "../daemon/daemon-events.js";
import type { Logger } from "../logging/logger.js";
import { cancelRequests, forgetRemovals, settleCancelRequests } from "./cancel-queries.js";
import { JobCancelledError } from "./job-cancelled-error.js";

/** While attempts run here: often enough that a signal aborts well within a second of pgmill.cancel_job. */
export const CANCEL_POLL_MS = 400;
/** While nothing runs here: only queued removals to count and requests to settle. An attempt's start polls sooner. */
const IDLE_POLL_MS = 2_000;
/** Requests whose job runs nowhere (failed before its daemon saw it, reaped, released) are settled this often. */
const SETTLE_EVERY_MS = 2_000;

/** The attempt runner, as far as cancels go. */
export interface CancelTarget {
  runningJobIds(): readonly string[];
  cancel(jobId: string, reason: JobCancelledError): boolean;
}

/**
 * Polls pgmill.cancel_requests (a table that is empty unless an operator is
 * cancelling something, so a poll costs an index scan of nothing) and:
 * aborts the attempts of this daemon whose jobs were cancelled; remembers the
 * pending ones, so a released job is not started again; settles requests
 * whose job no longer runs anywhere; and counts removals of queued jobs.
 * A poll is a plain query rather than LISTEN: no session connection to keep,
 * and it works behind a transaction pooler.
 */
export class CancelWatcher {
  private pending = new Map<string, JobCancelledError>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private lastSettle = Number.NEGATIVE_INFINITY;
  private nextPollAt = 0;
  private failing = false;

  constructor(
    private readonly db: Db,
    private readonly target: CancelTarget,
    private readonly events: DaemonEvents,
    private readonly logger: Logger,
    private readonly everyMs = CANCEL_POLL_MS,
  ) {
    // An idle daemon's next poll may be two seconds away: an attempt starting brings it forward.
    events.on("attempt:start", () => {
      if (this.timer && this.nextPollAt - performance.now() > this.everyMs) this.schedule();
    });
  }

  /** The cancel pending for this job at the last poll, if any. */
  pendingCancel(jobId: string): JobCancelledError | undefined {
    return this.pending.get(jobId);
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** Stops polling; waits for a poll under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One poll (tests call it to skip the wait). */
  poll(): Promise<void> {
    this.running ??= this.check().finally(() => (this.running = null));
    return this.running;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    const delay = this.target.runningJobIds().length ? this.everyMs : Math.max(this.everyMs, IDLE_POLL_MS);
    this.nextPollAt = performance.now() + delay;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.poll().finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    try {
      const rows = await cancelRequests(this.db);
      const requested = rows.filter((row) => row.state === "requested");
      this.pending = new Map(requested.map((row) => [row.job_id, new JobCancelledError(row.requested_by, row.requested_at)]));
      const here = new Set(this.target.runningJobIds());
      for (const [jobId, reason] of this.pending) {
        if (here.has(jobId) && this.target.cancel(jobId, reason)) {
          this.logger.info({ jobId, requestedBy: reason.requestedBy }, "job cancelled: aborting its running attempt");
        }
      }
      const removals = rows.filter((row) => row.state === "removed").map((row) => row.job_id);
      if (removals.length) {
        for (const { task } of await forgetRemovals(this.db, removals)) this.events.emit("job:cancelled", task, "queued");
      }
      const elsewhere = requested.some((row) => !here.has(row.job_id));
      if (elsewhere && performance.now() - this.lastSettle >= SETTLE_EVERY_MS) {
        this.lastSettle = performance.now();
        const settled = await settleCancelRequests(this.db);
        if (settled) this.logger.info({ settled }, "settled cancels of jobs no longer running");
      }
      if (this.failing) this.logger.info("cancel watcher: polling pgmill.cancel_requests again");
      this.failing = false;
    } catch (error) {
      // Said once per outage; the heartbeat reports the database itself.
      if (!this.failing) this.logger.warn({ err: error }, "cancel watcher: could not poll pgmill.cancel_requests; will retry");
      this.failing = true;
    }
  }
}
