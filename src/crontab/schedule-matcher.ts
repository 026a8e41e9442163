import type { DigestMatcher, MinuteDigest } from "../engine/cron-adapter.js";
import { MINUTE, Zone } from "./zone.js";

export function digestOf(utcFields: Date): MinuteDigest {
  return {
    min: utcFields.getUTCMinutes(),
    hour: utcFields.getUTCHours(),
    date: utcFields.getUTCDate(),
    month: utcFields.getUTCMonth() + 1,
    dow: utcFields.getUTCDay(),
  };
}

/** Does a crontab line fire at this instant (ms, on a minute)? */
export type InstantMatcher = (instant: number) => boolean;

/** A UTC line: the engine's own field matcher on the UTC fields. */
export function utcMatcher(match: DigestMatcher): InstantMatcher {
  return (instant) => match(digestOf(new Date(instant)));
}

/**
 * A line with `?tz=Area/City`, matched on that zone's wall clock. Across DST
 * changes it behaves like Vixie cron, which is what people expect:
 * - lines that run at fixed times (minute and hour fields not starting with `*`) fire
 *   once in a repeated hour (at its first occurrence), and a time skipped by
 *   a spring-forward runs at the first minute after the jump;
 * - lines that run hourly or more often (minute or hour starting with `*`) follow the
 *   wall clock: they fire in both copies of a repeated hour and simply have no
 *   runs in a skipped one.
 */
export function zonedMatcher(match: DigestMatcher, zone: Zone, fixedTime: boolean): InstantMatcher {
  return (instant) => {
    const offset = zone.offsetMinutes(instant);
    if (!fixedTime) return match(digestOf(zone.wallClock(instant)));

    // Repeated hour: has this wall time already happened `delta` minutes ago?
    const delta = zone.offsetMinutes(instant - 3 * 60 * MINUTE) - offset;
    if (delta > 0 && zone.offsetMinutes(instant - delta * MINUTE) - offset === delta) return false;

    if (match(digestOf(zone.wallClock(instant)))) return true;

    // First minute after a jump forward: also run what the jump skipped.
    const jump = offset - zone.offsetMinutes(instant - MINUTE);
    for (let skipped = 1; skipped <= jump; skipped++) {
      if (match(digestOf(new Date(instant + (offset - skipped) * MINUTE)))) return true;
    }
    return false;
  };
}

/** The next `count` instants at or after `from` when the line fires (searching up to `horizonDays`). */
export function nextRuns(matcher: InstantMatcher, from: number, count: number, horizonDays = 5 * 366): Date[] {
  const runs: Date[] = [];
  const end = from + horizonDays * 24 * 60 * MINUTE;
  for (let t = Math.ceil(from / MINUTE) * MINUTE; t <= end && runs.length < count; t += MINUTE) {
    if (matcher(t)) runs.push(new Date(t));
  }
  return runs;
}
