import type { Db } from "../db/database.js";
import type { Logger } from "../logging/logger.js";
import { pausedTaskNames } from "./pause-queries.js";

/** How stale a daemon's view of the paused set may be: a pause holds within this (plus one fetch). */
export const PAUSED_REFRESH_MS = 500;

/**
 * This daemon's copy of `pgmill.paused_tasks`, re-read every half second: the
 * gate asks it before every attempt, so it must not cost a query each. It
 * reports each change (metrics, and a nudge when a task is resumed: its held
 * jobs are due again, and reschedule_jobs sent no NOTIFY). While the database
 * does not answer, the last set read stays.
 */
export class PausedTasks {
  readonly name = "paused-tasks";
  private current = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private failing = false;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly onChange: (paused: ReadonlySet<string>, resumed: readonly string[]) => void,
  ) {}

  has(task: string): boolean {
    return this.current.has(task);
  }

  get tasks(): ReadonlySet<string> {
    return this.current;
  }

  /** Reads the set once before the pool starts (so no job starts unchecked), then every half second. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), PAUSED_REFRESH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.refreshing;
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async read(): Promise<void> {
    let next: Set<string>;
    try {
      next = await pausedTaskNames(this.db);
    } catch (error) {
      if (!this.failing) this.logger.warn({ err: error }, "reading the paused tasks failed; keeping the last known set");
      this.failing = true;
      return;
    }
    this.failing = false;
    const previous = this.current;
    this.current = next;
    const resumed = [...previous].filter((task) => !next.has(task));
    const paused = [...next].filter((task) => !previous.has(task));
    if (resumed.length || paused.length) {
      if (paused.length) this.logger.info({ tasks: paused }, "tasks paused: no new attempts of them start here");
      if (resumed.length) this.logger.info({ tasks: resumed }, "tasks resumed");
      this.onChange(next, resumed);
    }
  }
}
