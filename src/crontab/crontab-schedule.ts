import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { EngineCronItem } from "../engine/cron-adapter.js";
import type { Logger } from "../logging/logger.js";
import type { AnyTask } from "../tasks/define-task.js";
import { parseCrontabFile, type CrontabEntry } from "./parse-crontab.js";

const RELOAD_DEBOUNCE_MS = 250;

/**
 * The crontab the daemon runs. `items` is the very array graphile-worker's cron
 * reads every minute (its API documents it as mutable), so a reload swaps the
 * contents in place: the pool and its running jobs are never touched. An
 * invalid file is rejected with its errors and the old schedule keeps running.
 */
export class CrontabSchedule {
  readonly items: EngineCronItem[] = [];
  private entriesNow: CrontabEntry[] = [];
  private lastText: string | null = null;
  private loaded = false;
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;

  constructor(
    readonly file: string,
    private readonly tasks: Readonly<Record<string, AnyTask>>,
    private readonly logger: Logger,
    private readonly onLoad: (identifiers: string[]) => void = () => undefined,
  ) {}

  get entries(): readonly CrontabEntry[] {
    return this.entriesNow;
  }

  /** First load: an invalid crontab stops start-up (the error says which lines). */
  async load(): Promise<void> {
    const text = await this.read();
    this.apply(text, text === null ? [] : parseCrontabFile(text, this.tasks, this.label()));
    if (text === null) this.logger.warn({ file: this.file }, "no crontab file; running without schedules until one appears");
  }

  /** Re-reads the file; returns whether a new schedule took effect. */
  async reload(): Promise<boolean> {
    const text = await this.read();
    if (text === this.lastText) return false;
    try {
      this.apply(text, text === null ? [] : parseCrontabFile(text, this.tasks, this.label()));
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
      this.watcher.on("error", (error) => this.logger.warn({ err: error }, "crontab watcher failed; SIGHUP still reloads"));
    } catch (error) {
      this.logger.warn({ err: error, file: this.file }, "cannot watch the crontab; SIGHUP still reloads");
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
    this.items.splice(0, this.items.length, ...entries.map((e) => e.item));
    this.onLoad(entries.map((e) => e.identifier));
    this.logger.info(
      { file: this.file, lines: entries.length, identifiers: entries.map((e) => e.identifier) },
      first ? "crontab loaded" : "crontab reloaded",
    );
  }

  private label(): string {
    return path.basename(this.file);
  }

  private async read(): Promise<string | null> {
    try {
      return await readFile(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }
}
