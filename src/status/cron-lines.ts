import { readFile } from "node:fs/promises";
import path from "node:path";
import { nextTicks, parseCrontabFile } from "../crontab/parse-crontab.js";
import { PgmillProblemsError } from "../errors.js";
import type { TaskCatalog } from "../tasks/task-catalog.js";

export interface CronLine {
  readonly line: number;
  readonly id: string;
  readonly task: string;
  /** As written: the five fields, or `@every 10s`. */
  readonly schedule: string;
  readonly overlap: string;
  readonly timezone: string;
  /** An `@every` line: its runs fall on seconds. */
  readonly subMinute: boolean;
  readonly nextRuns: readonly Date[];
}

/** A crontab as `pgmill status` and the dashboard show it: its lines, or its problems (a missing file has neither). */
export type CronLines = { readonly lines: readonly CronLine[]; readonly problems: readonly string[] };

/** Each crontab line with its next `count` runs; a crontab with problems yields them instead of throwing. */
export async function readCronLines(file: string, tasks: TaskCatalog, count: number, now = Date.now()): Promise<CronLines> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return { lines: [], problems: [] };
  }
  try {
    const lines = parseCrontabFile(text, tasks, path.basename(file)).map((entry) => ({
      line: entry.line,
      id: entry.identifier,
      task: entry.task,
      schedule: entry.schedule,
      overlap: entry.overlap,
      timezone: entry.timezone ?? "UTC",
      subMinute: entry.everyMs !== null,
      nextRuns: nextTicks(entry, now, count),
    }));
    return { lines, problems: [] };
  } catch (error) {
    // Status is for looking at a system in trouble: show the crontab's problems, not nothing.
    if (error instanceof PgmillProblemsError) return { lines: [], problems: error.problems };
    throw error;
  }
}

/** ISO-like local time with its UTC offset, e.g. 2026-03-29 03:30 +02:00 (with seconds for `@every` lines). */
export function formatInZone(instant: Date, timeZone: string, seconds = false): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      ...(seconds ? { second: "2-digit" as const } : {}),
      timeZoneName: "longOffset",
    })
      .formatToParts(instant)
      .map((p) => [p.type, p.value]),
  );
  const offset = String(parts.timeZoneName).replace("GMT", "") || "+00:00";
  const secondsPart = seconds ? `:${parts.second}` : "";
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}${secondsPart} ${offset}`;
}
