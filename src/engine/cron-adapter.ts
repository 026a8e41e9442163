import { parseCrontab, type ParsedCronItem, type WorkerEvents } from "graphile-worker";

// Everything pgmill's crontab knows about graphile-worker's cron: its line
// parser, the matcher it calls each minute, the `_cron` payload key it adds,
// and the events it emits when it enqueues a tick.

/** A crontab line as graphile-worker's cron runs it. */
export type EngineCronItem = ParsedCronItem;
export type EngineCronOptions = ParsedCronItem["options"];

/** graphile-worker's digest of a minute, as its matcher receives it: UTC fields. */
export interface MinuteDigest {
  min: number;
  hour: number;
  date: number;
  month: number;
  dow: number;
}
export type DigestMatcher = (digest: MinuteDigest) => boolean;

/**
 * One line through graphile-worker's public `parseCrontab`. It is parsed as a
 * one-line file (padding it to its own line number would make a long file
 * quadratic), so the engine's messages say "line 1"; they are renumbered to
 * the line's own number so they agree with ours.
 */
export function parseCronLine(source: string, line: number): EngineCronItem {
  try {
    return parseCrontab(source)[0]!;
  } catch (error) {
    if (error instanceof Error) error.message = error.message.replace(/\bline '?1'? of crontab/g, `line ${line} of crontab`);
    throw error;
  }
}

/** The same item with other options and matcher; a spread keeps graphile-worker's "parsed" brand (a symbol key). */
export function withSchedule(item: EngineCronItem, options: EngineCronOptions, match: DigestMatcher): EngineCronItem {
  return { ...item, options, match };
}

/**
 * Options that make a tick add nothing while a job with this key is queued or
 * running: add_job's `unsafe_dedupe` mode, which cron passes to add_job as it
 * is (its crontab grammar and typings know only replace and preserve_run_at).
 */
export function dedupeOptions(jobKey: string): Pick<EngineCronOptions, "jobKey" | "jobKeyMode"> {
  return { jobKey, jobKeyMode: "unsafe_dedupe" as unknown as EngineCronOptions["jobKeyMode"] };
}

/**
 * Wraps a line's matcher so ticks `allows` refuses (a paused line's) are
 * neither enqueued nor backfilled: cron asks the matcher for the current
 * minute and, at start-up, for each minute of a backfill.
 */
export function gatedMatcher(match: DigestMatcher, allows: (instant: number) => boolean, clock: () => number = Date.now): DigestMatcher {
  return (digest) => {
    if (!match(digest)) return false;
    const instant = instantOfDigest(digest, clock());
    return instant === null || allows(instant);
  };
}

/** The field matcher graphile-worker built from the line's five schedule fields. */
export function fieldMatcher(item: EngineCronItem): DigestMatcher {
  return item.match as DigestMatcher;
}

/**
 * graphile-worker hands a matcher only the UTC month, day, hour and minute; the
 * year is the one that puts that minute nearest `now` (cron looks at the
 * current minute, or back over a backfill window, never a year away).
 */
export function instantOfDigest(digest: MinuteDigest, now: number): number | null {
  const year = new Date(now).getUTCFullYear();
  let best: number | null = null;
  for (const y of [year - 1, year, year + 1]) {
    const instant = Date.UTC(y, digest.month - 1, digest.date, digest.hour, digest.min);
    if (new Date(instant).getUTCDate() !== digest.date) continue; // 29 February in a common year
    if (best === null || Math.abs(instant - now) < Math.abs(best - now)) best = instant;
  }
  return best;
}

/** Adapts a matcher of instants (ms) to the digest matcher graphile-worker calls. */
export function asDigestMatcher(matcher: (instant: number) => boolean, clock: () => number = Date.now): DigestMatcher {
  return (digest) => {
    const instant = instantOfDigest(digest, clock());
    return instant !== null && matcher(instant);
  };
}

export interface CronTick {
  readonly ts: string;
  readonly backfilled: boolean;
  /** Enqueued by hand (`pgmill.run_cron_now`, `pgmill cron run`), not by a tick. */
  readonly manual: boolean;
}

/**
 * graphile-worker's cron adds `_cron: { ts, backfilled }` to the payload; it is
 * metadata, not input, so handlers get it as `job.cron` and schemas never see it.
 */
export function splitCronMetadata(raw: unknown): { payload: unknown; cron: CronTick | null } {
  if (!raw || typeof raw !== "object" || Array.isArray(raw) || !("_cron" in raw)) return { payload: raw, cron: null };
  const { _cron, ...payload } = raw as { _cron: unknown };
  const meta = _cron as { ts?: unknown; backfilled?: unknown; manual?: unknown } | null;
  const cron =
    meta && typeof meta.ts === "string" ? { ts: meta.ts, backfilled: meta.backfilled === true, manual: meta.manual === true } : null;
  return { payload, cron };
}

/** Calls `enqueued` with the line identifiers of every tick cron enqueues, scheduled or backfilled. */
export function onCronEnqueued(events: WorkerEvents, enqueued: (identifiers: string[], at: Date) => void): void {
  events.on("cron:scheduled", ({ timestamp, jobsAndIdentifiers }) =>
    enqueued(jobsAndIdentifiers.map((j) => j.identifier), new Date(timestamp)),
  );
  events.on("cron:backfill", ({ timestamp, itemsToBackfill }) =>
    enqueued(itemsToBackfill.map((i) => i.identifier), new Date(timestamp)),
  );
}
