import { z } from "zod";
import {
  asDigestMatcher,
  dedupeOptions,
  fieldMatcher,
  parseCronLine,
  withSchedule,
  type EngineCronItem,
  type EngineCronOptions,
} from "../engine/cron-adapter.js";
import { JOB_LIMITS } from "../engine/job-limits.js";
import { PgmillProblemsError } from "../errors.js";
import { findTask, type AnyTask } from "../tasks/define-task.js";
import { parseEvery } from "./every-duration.js";
import { nextRuns, utcMatcher, zonedMatcher, type InstantMatcher } from "./schedule-matcher.js";
import { Zone } from "./zone.js";

/** `?overlap=`: `allow` (the default) enqueues every tick; `skip` drops a tick while the line's previous run is queued or running. */
export const OVERLAP_POLICIES = ["allow", "skip"] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** The job key a line with `?overlap=skip` gives its jobs: a tick finding one queued or running is skipped. */
export function overlapJobKey(identifier: string): string {
  return `pgmill-cron:${identifier}`;
}

/** One schedule line, ready for graphile-worker and for `pgmill cron check`. */
export interface CrontabEntry {
  readonly line: number;
  readonly source: string;
  readonly identifier: string;
  readonly task: string;
  readonly timezone: string | null;
  /** The schedule as written: the five fields, or `@every 10s`. */
  readonly schedule: string;
  /** `@every` lines: the period; pgmill schedules these itself (graphile-worker's cron is minute-granular). */
  readonly everyMs: number | null;
  readonly overlap: OverlapPolicy;
  readonly matchesAt: InstantMatcher;
  readonly item: EngineCronItem;
}

/** The line's next `count` ticks from `from` (ms). */
export function nextTicks(entry: CrontabEntry, from: number, count: number): Date[] {
  const every = entry.everyMs;
  if (every === null) return nextRuns(entry.matchesAt, from, count);
  const first = Math.ceil(from / every) * every;
  return Array.from({ length: count }, (_, i) => new Date(first + i * every));
}

// "m h dom mon dow", the task, then optionally " ?options" and the payload.
const LINE_PARTS = /^((?:\S+\s+){5}\S+)(?:\s+\?(\S+))?(.*)$/;

/**
 * Parses a crontab in graphile-worker's syntax plus `?tz=Area/City`, checking
 * each line's task and payload against the task registry. Every problem is
 * reported at once as `crontab:LINE: what is wrong`.
 */
export function parseCrontabFile(
  text: string,
  tasks: Readonly<Record<string, AnyTask>>,
  label = "crontab",
): CrontabEntry[] {
  const entries: CrontabEntry[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const source = raw.trim();
    if (source === "" || source.startsWith("#")) return;
    const fail = (message: string) => problems.push(`${label}:${line}: ${message}`);
    try {
      const entry = parseLine(source, line, tasks);
      const firstLine = seen.get(entry.identifier);
      if (firstLine !== undefined) {
        return fail(`duplicate identifier '${entry.identifier}' (also on line ${firstLine}); give one a unique ?id=`);
      }
      seen.set(entry.identifier, line);
      entries.push(entry);
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
    }
  });
  if (problems.length) throw new PgmillProblemsError("PGMILL_INVALID_CRONTAB", `Invalid ${label}:`, problems);
  return entries;
}

// `@every 10s task ...`: graphile-worker parses the rest behind a placeholder schedule.
const EVERY_LINE = /^@every(?:\s+(\S+))?(?:\s+(.*))?$/;
const PLACEHOLDER_SCHEDULE = "* * * * *";

function parseLine(source: string, line: number, tasks: Readonly<Record<string, AnyTask>>): CrontabEntry {
  const every = EVERY_LINE.exec(source);
  if (!every && source.startsWith("@every")) throw new Error(`expected '@every DURATION task', e.g. '@every 30s my-task'`);
  const everyMs = every ? parseEvery(every[1]) : null;
  if (every && !every[2]) throw new Error(`'@every ${every[1]}' needs a task after the duration`);
  const engineSource = every ? `${PLACEHOLDER_SCHEDULE} ${every[2]}` : source;
  const { withoutTz, timezone, overlap } = extractPgmillOptions(engineSource);
  const item = parseCronLine(withoutTz, line);
  if (every && timezone) throw new Error("option 'tz' does not apply to @every lines (their ticks are counted from the Unix epoch)");
  if (every && item.options.backfillPeriod > 0) throw new Error("option 'fill' does not apply to @every lines: they are never backfilled");
  if (overlap === "skip" && item.options.jobKey !== undefined) {
    throw new Error("option 'overlap=skip' sets the job key itself; remove option 'jobKey'");
  }

  const task = findTask(tasks, item.task);
  if (!task) throw new Error(`unknown task '${item.task}' (known: ${Object.keys(tasks).sort().join(", ")})`);
  checkOptions(item.options);
  // Checked as the handler will get it: graphile-worker sends the payload as JSON.
  const payloadCheck = task.payload.safeParse(asSentAsJson(item.payload ?? {}));
  if (!payloadCheck.success) {
    throw new Error(`payload for task '${task.name}': ${z.prettifyError(payloadCheck.error).replaceAll("\n", "; ")}`);
  }

  const utc = fieldMatcher(item);
  const [minuteField, hourField] = source.split(/\s+/);
  const fixedTime = !minuteField!.startsWith("*") && !hourField!.startsWith("*");
  const matchesAt: InstantMatcher =
    everyMs !== null ? (instant) => instant % everyMs === 0 : timezone ? zonedMatcher(utc, new Zone(timezone), fixedTime) : utcMatcher(utc);
  const options: EngineCronOptions = {
    ...item.options,
    maxAttempts: item.options.maxAttempts ?? task.maxAttempts,
    ...(overlap === "skip" ? dedupeOptions(overlapJobKey(item.identifier)) : {}),
  };
  return {
    line,
    source,
    identifier: item.identifier,
    task: item.task,
    timezone,
    schedule: every ? `@every ${every[1]}` : source.split(/\s+/).slice(0, 5).join(" "),
    everyMs,
    overlap,
    matchesAt,
    item: withSchedule(item, options, timezone ? asDigestMatcher(matchesAt) : utc),
  };
}

// cron enqueues a minute's lines in one statement, so one line add_job refuses
// would fail every line due that minute, every time.
const { smallintMin, smallintMax, queueNameLength, jobKeyLength } = JOB_LIMITS;
// The backfill walks every minute of the period at start-up.
const MAX_FILL_DAYS = 366;

function checkOptions(options: EngineCronOptions): void {
  const { maxAttempts, priority, queueName, jobKey, backfillPeriod } = options;
  const inRange = (name: string, value: number | undefined, min: number, max: number) => {
    if (value !== undefined && !(value >= min && value <= max)) {
      throw new Error(`option '${name}' must be from ${min} to ${max}, not ${Number.isFinite(value) ? value : "a number that large"}`);
    }
  };
  inRange("max", maxAttempts, 1, smallintMax);
  inRange("priority", priority, smallintMin, smallintMax);
  if (queueName !== undefined && queueName.length > queueNameLength) {
    throw new Error(`option 'queue' is ${queueName.length} characters long; the most is ${queueNameLength}`);
  }
  if (jobKey !== undefined && !(jobKey.length >= 1 && jobKey.length <= jobKeyLength)) {
    throw new Error(`option 'jobKey' must be 1 to ${jobKeyLength} characters long, not ${jobKey.length}`);
  }
  if (!(backfillPeriod <= MAX_FILL_DAYS * DAY_MS)) throw new Error(`option 'fill' must be at most ${MAX_FILL_DAYS}d`);
}

const DAY_MS = 24 * 3_600_000;

/** The payload after a JSON round trip (Infinity and NaN become null); a payload JSON cannot carry is refused. */
function asSentAsJson(payload: unknown): unknown {
  let json: string;
  try {
    json = JSON.stringify(payload);
  } catch (error) {
    if (error instanceof RangeError) throw new Error("payload is nested too deeply to send as JSON");
    throw error;
  }
  return JSON.parse(json);
}

/** Pulls our `tz` and `overlap` options out of the command's options; graphile-worker rejects unknown keys. */
function extractPgmillOptions(source: string): { withoutTz: string; timezone: string | null; overlap: OverlapPolicy } {
  const parts = LINE_PARTS.exec(source);
  const none = { withoutTz: source, timezone: null, overlap: "allow" as const };
  if (!parts) return none;
  const [, scheduleAndTask, options, rest] = parts as unknown as [string, string, string | undefined, string];
  if (options === undefined) return none;
  const kept: string[] = [];
  const zones: string[] = [];
  const overlaps: string[] = [];
  for (const option of options.split("&")) {
    if (option.startsWith("tz=")) zones.push(decodeURIComponent(option.slice(3)));
    else if (option.startsWith("overlap=")) overlaps.push(decodeURIComponent(option.slice(8)));
    else kept.push(option);
  }
  if (zones.length > 1) throw new Error("option 'tz' is given more than once");
  if (overlaps.length > 1) throw new Error("option 'overlap' is given more than once");
  const timezone = zones[0] ?? null;
  if (timezone !== null && !Zone.isValid(timezone)) {
    throw new Error(`unknown timezone '${timezone}' in ?tz= (expected an IANA name such as Europe/Paris)`);
  }
  const overlap = overlaps[0] ?? "allow";
  if (!(OVERLAP_POLICIES as readonly string[]).includes(overlap)) {
    throw new Error(`option 'overlap' must be ${OVERLAP_POLICIES.join(" or ")}, not '${overlap}'`);
  }
  if (zones.length === 0 && overlaps.length === 0) return none;
  const keptOptions = kept.length ? ` ?${kept.join("&")}` : "";
  return { withoutTz: `${scheduleAndTask}${keptOptions}${rest}`, timezone, overlap: overlap as OverlapPolicy };
}
