import { sql } from "kysely";
import type { Db } from "../db/database.js";
import type { Logger } from "../logging/logger.js";

/** How often each daemon re-reads the pause windows: a pause takes effect for minute lines within this. */
export const PAUSE_REFRESH_MS = 1_000;
/** And once more this long before each minute, when graphile-worker's cron matches its lines. */
const BEFORE_MINUTE_MS = 250;
const MINUTE_MS = 60_000;

interface Window {
  readonly from: number;
  readonly to: number | null;
}

/**
 * The crontab lines' pause windows, as graphile-worker's cron needs them: its
 * matcher is synchronous, so it asks this copy, refreshed every second. Ended
 * windows are kept (for the longest backfill, 366 days) so a daemon starting
 * after a resume does not backfill the ticks the pause dropped.
 */
export class CronPauses {
  private windows = new Map<string, Window[]>();
  private timer: NodeJS.Timeout | null = null;
  private minuteTimer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly onChange: (paused: string[]) => void = () => undefined,
  ) {}

  /** False if the line was paused at `instant` (ms). */
  allows(identifier: string, instant: number): boolean {
    const windows = this.windows.get(identifier);
    return !windows?.some((w) => w.from <= instant && (w.to === null || instant < w.to));
  }

  /** The lines paused now. */
  paused(): string[] {
    return [...this.windows].filter(([, ws]) => ws.some((w) => w.to === null)).map(([id]) => id).sort();
  }

  async refresh(): Promise<void> {
    const rows = await this.db
      .selectFrom("pgmill.cron_pauses")
      .select(["identifier", "paused_at", "resumed_at"])
      .where((eb) => eb.or([eb("resumed_at", "is", null), eb("resumed_at", ">", sql<Date>`now() - interval '367 days'`)]))
      .execute();
    const before = this.paused().join(",");
    const windows = new Map<string, Window[]>();
    for (const row of rows) {
      const list = windows.get(row.identifier) ?? [];
      list.push({ from: new Date(row.paused_at).getTime(), to: row.resumed_at === null ? null : new Date(row.resumed_at).getTime() });
      windows.set(row.identifier, list);
    }
    this.windows = windows;
    const now = this.paused();
    if (now.join(",") !== before) {
      this.logger.info({ paused: now }, "crontab lines paused now");
      this.onChange(now);
    }
  }

  start(): void {
    this.timer ??= setInterval(() => this.refreshQuietly(), PAUSE_REFRESH_MS);
    this.timer.unref();
    this.beforeEachMinute();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.minuteTimer) clearTimeout(this.minuteTimer);
    this.timer = null;
    this.minuteTimer = null;
  }

  private beforeEachMinute(): void {
    const now = Date.now();
    let at = Math.ceil(now / MINUTE_MS) * MINUTE_MS - BEFORE_MINUTE_MS;
    if (at <= now) at += MINUTE_MS;
    this.minuteTimer = setTimeout(() => {
      if (this.timer === null) return; // stopped
      this.refreshQuietly();
      this.beforeEachMinute();
    }, at - now);
    this.minuteTimer.unref();
  }

  private refreshQuietly(): void {
    this.refresh().then(
      () => {
        if (this.failing) this.logger.info("crontab pauses are read again");
        this.failing = false;
      },
      (error: unknown) => {
        // Once per outage, not once a second.
        if (!this.failing) this.logger.warn({ err: error }, "cannot read crontab pauses; keeping the last known");
        this.failing = true;
      },
    );
  }
}
