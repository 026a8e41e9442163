import { z } from "zod";
import {
  asDigestMatcher,
  fieldMatcher,
  parseCronLine,
  withSchedule,
  type EngineCronItem,
  type EngineCronOptions,
} from "../engine/cron-adapter.js";
import { JOB_LIMITS } from "../engine/job-limits.js";
import { PgmillProblemsError } from "../errors.js";
import { findTask, type AnyTask } from "../tasks/define-task.js";
import { utcMatcher, zonedMatcher, type InstantMatcher } from "./schedule-matcher.js";
import { Zone } from "./zone.js";

/** One schedule line, ready for graphile-worker and for `pgmill cron check`. */
export interface CrontabEntry {
  readonly line: number;
  readonly source: string;
  readonly identifier: string;
  readonly task: string;
  readonly timezone: string | null;
  readonly matchesAt: InstantMatcher;
  readonly item: EngineCronItem;
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

function parseLine(source: string, line: number, tasks: Readonly<Record<string, AnyTask>>): CrontabEntry {
  const { withoutTz, timezone } = extractTimezone(source);
  const item = parseCronLine(withoutTz, line);

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
  const matchesAt = timezone ? zonedMatcher(utc, new Zone(timezone), fixedTime) : utcMatcher(utc);
  const options = { ...item.options, maxAttempts: item.options.maxAttempts ?? task.maxAttempts };
  return {
    line,
    source,
    identifier: item.identifier,
    task: item.task,
    timezone,
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

/** Pulls our `tz` option out of the command's options; graphile-worker rejects unknown keys. */
function extractTimezone(source: string): { withoutTz: string; timezone: string | null } {
  const parts = LINE_PARTS.exec(source);
  if (!parts) return { withoutTz: source, timezone: null };
  const [, scheduleAndTask, options, rest] = parts as unknown as [string, string, string | undefined, string];
  if (options === undefined) return { withoutTz: source, timezone: null };
  const kept: string[] = [];
  const zones: string[] = [];
  for (const option of options.split("&")) {
    if (option.startsWith("tz=")) zones.push(decodeURIComponent(option.slice(3)));
    else kept.push(option);
  }
  if (zones.length === 0) return { withoutTz: source, timezone: null };
  if (zones.length > 1) throw new Error("option 'tz' is given more than once");
  const timezone = zones[0]!;
  if (!Zone.isValid(timezone)) {
    throw new Error(`unknown timezone '${timezone}' in ?tz= (expected an IANA name such as Europe/Paris)`);
  }
  const keptOptions = kept.length ? ` ?${kept.join("&")}` : "";
  return { withoutTz: `${scheduleAndTask}${keptOptions}${rest}`, timezone };
}
