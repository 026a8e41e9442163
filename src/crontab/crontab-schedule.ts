import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
// The module, not a named import: `import "pgmill"` on a Node without
// getSystemErrorMessage must get as far as its version check (src/require-node.ts).
import util from "node:util";
import { fieldMatcher, gatedMatcher, withSchedule, type EngineCronItem } from "../engine/cron-adapter.js";
import { PgmillError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { AnyTask } from "../tasks/define-task.js";
import { parseCrontabFile, type CrontabEntry } from "./parse-crontab.js";

const RELOAD_DEBOUNCE_MS = 250;

/**
 * The crontab the daemon runs. `items` is the very array graphile-worker's cron
 * reads every minute (its API documents it as mutable), so a reload swaps the
 * contents in place: the pool and its running jobs are never touched. A file
 * that is invalid, unreadable or gone is reported and the old schedule keeps
 * running; an empty file is how to clear every schedule.
 */
export class CrontabSchedule {
  readonly items: EngineCronItem[] = [];
  private entriesNow: CrontabEntry[] = [];
  private lastText: string | null = null;
  private loaded = false;
  /** The read failure last reported, so a burst of change events logs it once. */
  private readFailure: string | null = null;
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;

  constructor(
    readonly file: string,
    private readonly tasks: Readonly<Record<string, AnyTask>>,
    private readonly logger: Logger,
    private readonly onLoad: (identifiers: string[]) => void = () => undefined,
    /** Whether a line's tick at this instant may be enqueued (false while the line is paused). */
    private readonly allows: (identifier: string, instant: number) => boolean = () => true,
  ) {}

  get entries(): readonly CrontabEntry[] {
    return this.entriesNow;
  }

  /** First load: an unreadable or invalid crontab stops start-up (the error says why); a missing one means no schedules yet. */
  async load(): Promise<void> {
    let text: string | null;
    try {
      text = await this.read();
    } catch (error) {
      throw new PgmillError("PGMILL_CRONTAB_UNREADABLE", `cannot read crontab ${this.file}: ${describeReadError(error)} (PGMILL_CRONTAB)`);
    }
    this.apply(text, text === null ? [] : parseCrontabFile(text, this.tasks, this.label()));
    if (text === null) this.logger.warn({ file: this.file }, "no crontab file; running without schedules until one appears");
  }

  /**
   * Re-reads the file; returns whether a new schedule took effect. Never
   * throws: whatever goes wrong (a file replaced by a directory, a symlink
   * loop, a deleted file, a bad line) is logged and the previous schedule kept.
   */
  async reload(): Promise<boolean> {
    let text: string | null;
    try {
      text = await this.read();
    } catch (error) {
      const cause = describeReadError(error);
      this.reportReadFailure(cause, "error", { err: error, cause }, "cannot read the crontab; the previous schedule keeps running");
      return false;
    }
    if (text === null) {
      // Deleting the file is as likely a botched deploy as an intent: clearing is done with an empty file.
      this.reportReadFailure(
        "missing",
        "warn",
        {},
        "crontab file is gone; the previous schedule keeps running until it reappears (an empty file clears all schedules)",
      );
      return false;
    }
    const recovered = this.readFailure !== null;
    this.readFailure = null;
    if (text === this.lastText) {
      if (recovered) this.logger.info({ file: this.file }, "crontab file is readable again; its schedule is unchanged");
      return false;
    }
    try {
      this.apply(text, parseCrontabFile(text, this.tasks, this.label()));
      return true;
    } catch (error) {
      this.logger.error({ err: error, file: this.file }, "crontab rejected; the previous schedule keeps running");
      return false;
    }
  }

  /** Reloads when the file changes. Watches the directory: editors and ConfigMaps replace files. */
  watch(): void {
    if (this.watcher) return;
    const name = path.basename(this.file);
    try {
      this.watcher = watch(path.dirname(this.file), (_event, changed) => {
        if (changed !== null && changed !== name && !changed.startsWith("..")) return;
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.reload(), RELOAD_DEBOUNCE_MS);
      });
      this.watcher.on("error", (error) =>
        this.logger.warn({ err: error, file: this.file }, "crontab watcher failed; changes take effect at the next restart"),
      );
    } catch (error) {
      this.logger.warn({ err: error, file: this.file }, "cannot watch the crontab; changes take effect at the next restart");
    }
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.debounce) clearTimeout(this.debounce);
  }

  private apply(text: string | null, entries: CrontabEntry[]): void {
    const first = !this.loaded;
    this.loaded = true;
    this.lastText = text;
    this.entriesNow = entries;
    // `@every` lines are pgmill's own scheduler's (src/controls/every-scheduler.ts), not the engine's.
    const engineItems = entries
      .filter((e) => e.everyMs === null)
      .map((e) => withSchedule(e.item, e.item.options, gatedMatcher(fieldMatcher(e.item), (t) => this.allows(e.identifier, t))));
    this.items.splice(0, this.items.length, ...engineItems);
    this.onLoad(entries.map((e) => e.identifier));
    this.logger.info(
      { file: this.file, lines: entries.length, identifiers: entries.map((e) => e.identifier) },
      first ? "crontab loaded" : "crontab reloaded",
    );
  }

  private label(): string {
    return path.basename(this.file);
  }

  private reportReadFailure(failure: string, level: "warn" | "error", fields: object, message: string): void {
    if (this.readFailure === failure) return;
    this.readFailure = failure;
    this.logger[level]({ ...fields, file: this.file, lines: this.entriesNow.length }, message);
  }

  /** The file's text, or null if there is no file (a dangling symlink included). */
  private async read(): Promise<string | null> {
    try {
      return await readFile(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }
}

/** "EISDIR: illegal operation on a directory": the code to search for, the words to read. */
function describeReadError(error: unknown): string {
  const { code, errno } = error as NodeJS.ErrnoException;
  if (typeof code !== "string") return error instanceof Error ? error.message : String(error);
  return typeof errno === "number" ? `${code}: ${util.getSystemErrorMessage(errno)}` : code;
}
