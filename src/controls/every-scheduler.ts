import type { CrontabEntry } from "../crontab/parse-crontab.js";
import type { Db } from "../db/database.js";
import { enqueueEveryTick, type EveryTickOutcome } from "../engine/cron-ticks.js";
import type { Logger } from "../logging/logger.js";

/**
 * A tick found this late (a stalled event loop, a daemon just started) is
 * dropped rather than enqueued late: `@every` lines are never backfilled.
 */
const LATE_AFTER_MS = 5_000;

/**
 * pgmill's scheduler for `@every` lines (graphile-worker's cron is
 * minute-granular). Every daemon runs it; ticks are multiples of the period
 * since the Unix epoch, so all daemons agree on them, and each tick is claimed
 * in the database by one daemon (src/engine/cron-ticks.ts).
 */
export class EveryScheduler {
  private lines: CrontabEntry[] = [];
  /** The last tick each line handled here, so one is not tried twice. */
  private readonly handled = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** Lines whose last tick failed to enqueue (logged once until one succeeds). */
  private readonly failing = new Set<string>();
  private busy: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly outcome: (identifier: string, tick: Date, outcome: EveryTickOutcome) => void,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The crontab's lines (its `@every` ones are kept); takes effect at the next tick. */
  setLines(entries: readonly CrontabEntry[]): void {
    this.lines = entries.filter((e) => e.everyMs !== null);
    // A new line starts at its next tick: the one just past is no daemon's to fill in.
    const now = this.clock();
    for (const e of this.lines) {
      if (!this.handled.has(e.identifier)) this.handled.set(e.identifier, Math.floor(now / e.everyMs!) * e.everyMs!);
    }
    if (this.running) this.schedule();
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  /** Stops scheduling; resolves when a tick in progress has finished. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.busy;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.running || this.lines.length === 0) return;
    const now = this.clock();
    const next = Math.min(...this.lines.map((e) => Math.floor(now / e.everyMs!) * e.everyMs! + e.everyMs!));
    // +1 ms so the timer lands in the tick, not just before it.
    this.timer = setTimeout(() => {
      this.busy = this.fire().finally(() => this.schedule());
    }, Math.max(next - now + 1, 1));
  }

  private async fire(): Promise<void> {
    const now = this.clock();
    await Promise.all(
      this.lines.map(async (entry) => {
        const every = entry.everyMs!;
        const tick = Math.floor(now / every) * every;
        if (tick <= (this.handled.get(entry.identifier) ?? -Infinity)) return;
        this.handled.set(entry.identifier, tick);
        if (now - tick > LATE_AFTER_MS) {
          this.logger.warn({ identifier: entry.identifier, tick: new Date(tick), lateMs: now - tick }, "@every tick found too late; not enqueued (no backfill)");
          return;
        }
        try {
          const { queueName, maxAttempts, priority, jobKey, jobKeyMode } = entry.item.options;
          const result = await enqueueEveryTick(this.db, {
            identifier: entry.identifier,
            tick: new Date(tick),
            next: new Date(tick + every),
            task: entry.task,
            payload: entry.item.payload ?? {},
            queueName,
            maxAttempts,
            priority,
            jobKey,
            jobKeyMode,
            overlapSkip: entry.overlap === "skip",
          });
          if (this.failing.delete(entry.identifier)) this.logger.info({ identifier: entry.identifier }, "@every ticks are enqueued again");
          this.outcome(entry.identifier, new Date(tick), result);
        } catch (error) {
          // Once per outage, not once a second.
          if (this.failing.has(entry.identifier)) return;
          this.failing.add(entry.identifier);
          this.logger.error({ err: error, identifier: entry.identifier, tick: new Date(tick) }, "could not enqueue an @every tick; its ticks are dropped until the database answers");
        }
      }),
    );
  }
}
