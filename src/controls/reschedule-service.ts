import type { Db } from "../db/database.js";
import { applyReschedules, type AppliedReschedule } from "../engine/job-reschedules.js";
import type { PoolNudge } from "../engine/queue-nudge.js";
import type { Logger } from "../logging/logger.js";

/** How often every daemon applies requests left over (a kill -9 between the request and its application). */
export const RESCHEDULE_EVERY_MS = 500;
/** Nudge timers are set for due times up to this far ahead; later ones are found by the engine's poll. */
const NUDGE_HORIZON_MS = 24 * 60 * 60 * 1000;

/**
 * Applies reschedule requests (src/engine/job-reschedules.ts): right after
 * this daemon's engine should have released a parked or retried job
 * (`applySoon`), and every half second for whatever is left, on every daemon.
 * A job it makes due now, or at a time within the horizon, gets a nudge of
 * this daemon's pool then, since reschedule_jobs sends no NOTIFY.
 */
export class RescheduleService {
  readonly name = "reschedules";
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private readonly soon = new Set<NodeJS.Timeout>();
  private readonly wakeups = new Map<number, { timer: NodeJS.Timeout; jobs: number }>();
  private failing = false;

  constructor(
    private readonly db: Db,
    private readonly nudge: PoolNudge,
    private readonly logger: Logger,
    /** The engine's fail batch delay: its failure has landed a little after this. */
    private readonly batchDelayMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.apply(), RESCHEDULE_EVERY_MS);
    this.timer.unref();
  }

  /** A request was just written and the engine is about to fail the job: apply once its failure has landed. */
  applySoon(): void {
    if (!this.timer || this.soon.size) return;
    for (const delay of [this.batchDelayMs + 20, this.batchDelayMs + 250]) {
      const t = setTimeout(() => {
        this.soon.delete(t);
        void this.apply();
      }, delay);
      t.unref();
      this.soon.add(t);
    }
  }

  /** One pass; overlapping calls run once more after the current one. */
  async apply(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.applyOnce();
      } while (this.again && this.timer);
    })().finally(() => (this.running = null));
    return this.running;
  }

  /** Stops, after one last pass for the jobs this daemon's engine has just released (at shutdown). */
  async stop(): Promise<void> {
    if (this.timer) await this.apply();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const t of [...this.soon, ...[...this.wakeups.values()].map((w) => w.timer)]) clearTimeout(t);
    this.soon.clear();
    this.wakeups.clear();
    await this.running;
  }

  private async applyOnce(): Promise<void> {
    let applied: AppliedReschedule[];
    try {
      applied = await applyReschedules(this.db);
    } catch (error) {
      // The requests stay in the table; the next pass tries again.
      if (!this.failing) this.logger.warn({ err: error }, "applying job reschedules failed; will retry");
      this.failing = true;
      return;
    }
    this.failing = false;
    if (!applied.length) return;
    const now = Date.now();
    let dueNow = 0;
    for (const { runAt } of applied) {
      if (runAt === null || typeof runAt === "number") continue; // gone, or held at infinity
      const wait = runAt.getTime() - now;
      if (wait <= 0) dueNow++;
      else if (wait <= NUDGE_HORIZON_MS) this.wakeAt(runAt.getTime());
    }
    if (dueNow) this.nudge(dueNow);
  }

  /** One timer per 50 ms slot (rounded up: never before the job is due), so a burst of retries due together sets one. */
  private wakeAt(at: number): void {
    if (!this.timer) return;
    const slot = Math.ceil(at / 50) * 50;
    const existing = this.wakeups.get(slot);
    if (existing) {
      existing.jobs++;
      return;
    }
    const wakeup = {
      jobs: 1,
      timer: setTimeout(() => {
        this.wakeups.delete(slot);
        this.nudge(wakeup.jobs);
      }, slot - Date.now()),
    };
    wakeup.timer.unref();
    this.wakeups.set(slot, wakeup);
  }
}
