import { describe, expect, it } from "vitest";
import {
  asDigestMatcher,
  fieldMatcher,
  instantOfDigest,
  parseCronLine,
  type DigestMatcher,
} from "../src/engine/cron-adapter.js";
import { digestOf, nextRuns, utcMatcher, zonedMatcher, type InstantMatcher } from "../src/crontab/schedule-matcher.js";
import { Zone } from "../src/crontab/zone.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (iso: string) => Date.parse(iso);
const iso = (dates: Date[]) => dates.map((d) => d.toISOString().slice(0, 16) + "Z");

/** graphile-worker's own matcher (on UTC fields) for a cron expression. */
function digestMatcher(expression: string): DigestMatcher {
  return fieldMatcher(parseCronLine(`${expression} some_task`, 1));
}

/** A zoned matcher; "fixed time" exactly as parse-crontab decides it. */
function zoned(expression: string, zone: string): InstantMatcher {
  const [minute, hour] = expression.split(" ");
  const fixedTime = !minute!.startsWith("*") && !hour!.startsWith("*");
  return zonedMatcher(digestMatcher(expression), new Zone(zone), fixedTime);
}

/** Every firing in [from, to). */
function runsBetween(matcher: InstantMatcher, from: number, to: number): Date[] {
  const horizonDays = (to - from) / (24 * HOUR);
  return nextRuns(matcher, from, 10_000, horizonDays).filter((d) => d.getTime() < to);
}

/** The zone's wall clock at `date`, as "HH:MM". */
function wall(zone: Zone, date: Date): string {
  return zone.wallClock(date.getTime()).toISOString().slice(11, 16);
}

const paris = new Zone("Europe/Paris");
const newYork = new Zone("America/New_York");

// Local calendar days around the 2026 transitions, as UTC instants.
const PARIS_SPRING_DAY = { from: at("2026-03-28T23:00Z"), to: at("2026-03-29T22:00Z") }; // 23 hours
const PARIS_FALL_DAY = { from: at("2026-10-24T22:00Z"), to: at("2026-10-25T23:00Z") }; // 25 hours
const NY_SPRING_DAY = { from: at("2026-03-08T05:00Z"), to: at("2026-03-09T04:00Z") };
const NY_FALL_DAY = { from: at("2026-11-01T04:00Z"), to: at("2026-11-02T05:00Z") };

describe("Zone", () => {
  it("knows Paris's offsets either side of both transitions", () => {
    expect(paris.offsetMinutes(at("2026-01-15T12:00Z"))).toBe(60);
    expect(paris.offsetMinutes(at("2026-07-15T12:00Z"))).toBe(120);
    expect(paris.offsetMinutes(at("2026-03-29T00:59Z"))).toBe(60);
    expect(paris.offsetMinutes(at("2026-03-29T01:00Z"))).toBe(120);
    expect(paris.offsetMinutes(at("2026-10-25T00:59Z"))).toBe(120);
    expect(paris.offsetMinutes(at("2026-10-25T01:00Z"))).toBe(60);
  });

  it("knows New York's offsets either side of both transitions", () => {
    expect(newYork.offsetMinutes(at("2026-03-08T06:59Z"))).toBe(-300);
    expect(newYork.offsetMinutes(at("2026-03-08T07:00Z"))).toBe(-240);
    expect(newYork.offsetMinutes(at("2026-11-01T05:59Z"))).toBe(-240);
    expect(newYork.offsetMinutes(at("2026-11-01T06:00Z"))).toBe(-300);
  });

  it("handles zones with non-hour offsets", () => {
    expect(new Zone("Asia/Kolkata").offsetMinutes(at("2026-01-15T12:00Z"))).toBe(330);
    expect(new Zone("Asia/Kathmandu").offsetMinutes(at("2026-01-15T12:00Z"))).toBe(345);
  });

  it("reads the wall clock", () => {
    expect(wall(paris, new Date(at("2026-01-05T08:00Z")))).toBe("09:00");
    expect(wall(paris, new Date(at("2026-03-29T01:00Z")))).toBe("03:00");
    expect(wall(newYork, new Date(at("2026-11-01T05:30Z")))).toBe("01:30");
    expect(wall(newYork, new Date(at("2026-11-01T06:30Z")))).toBe("01:30");
    // The wall-clock Date keeps the local calendar date too.
    expect(newYork.wallClock(at("2026-01-05T03:00Z")).toISOString()).toBe("2026-01-04T22:00:00.000Z");
  });

  it("validates IANA names", () => {
    expect(Zone.isValid("Europe/Paris")).toBe(true);
    expect(Zone.isValid("UTC")).toBe(true);
    expect(Zone.isValid("Mars/Olympus")).toBe(false);
    expect(() => new Zone("Mars/Olympus")).toThrow(RangeError);
  });
});

describe("fixed-time lines across DST (Vixie cron semantics)", () => {
  it("runs a time skipped by spring-forward once, at the first minute after the jump", () => {
    const runs = nextRuns(zoned("30 2 * * *", "Europe/Paris"), at("2026-03-28T12:00Z"), 3);
    expect(iso(runs)).toEqual(["2026-03-29T01:00Z", "2026-03-30T00:30Z", "2026-03-31T00:30Z"]);
    expect(wall(paris, runs[0]!)).toBe("03:00");
  });

  it("runs a time in a repeated hour once, at its first occurrence", () => {
    const matcher = zoned("30 2 * * *", "Europe/Paris");
    expect(matcher(at("2026-10-25T00:30Z"))).toBe(true); // 02:30 CEST
    expect(matcher(at("2026-10-25T01:30Z"))).toBe(false); // 02:30 CET, again
    expect(iso(runsBetween(matcher, PARIS_FALL_DAY.from, PARIS_FALL_DAY.to))).toEqual(["2026-10-25T00:30Z"]);
  });

  it("does the same in New York", () => {
    const spring = nextRuns(zoned("30 2 * * *", "America/New_York"), at("2026-03-07T12:00Z"), 2);
    expect(iso(spring)).toEqual(["2026-03-08T07:00Z", "2026-03-09T06:30Z"]);
    const fall = zoned("30 1 * * *", "America/New_York");
    expect(iso(runsBetween(fall, NY_FALL_DAY.from, NY_FALL_DAY.to))).toEqual(["2026-11-01T05:30Z"]);
    expect(fall(at("2026-11-01T06:30Z"))).toBe(false);
  });

  it("follows the offset between winter and summer", () => {
    const nine = zoned("0 9 * * *", "Europe/Paris");
    expect(iso(nextRuns(nine, at("2026-01-15T00:00Z"), 1))).toEqual(["2026-01-15T08:00Z"]);
    expect(iso(nextRuns(nine, at("2026-07-15T00:00Z"), 1))).toEqual(["2026-07-15T07:00Z"]);
    expect(iso(nextRuns(nine, at("2026-03-28T00:00Z"), 3))).toEqual([
      "2026-03-28T08:00Z",
      "2026-03-29T07:00Z",
      "2026-03-30T07:00Z",
    ]);
  });

  it("matches the day of week on the local calendar", () => {
    // 00:30 on Monday in Paris is 23:30 on Sunday in UTC.
    const monday = zoned("30 0 * * 1", "Europe/Paris");
    expect(iso(nextRuns(monday, at("2026-01-01T00:00Z"), 2))).toEqual(["2026-01-04T23:30Z", "2026-01-11T23:30Z"]);
  });

  // Property: a daily fixed-time line fires exactly once on every local day,
  // DST days included, at its wall time or (if skipped) right after the jump.
  it.each([
    ["Europe/Paris", PARIS_SPRING_DAY, "03:00"],
    ["Europe/Paris", PARIS_FALL_DAY, null],
    ["America/New_York", NY_SPRING_DAY, "03:00"],
    ["America/New_York", NY_FALL_DAY, null],
  ] as const)("every daily time in %s fires once on a DST day", (zoneName, day, afterJump) => {
    const zone = new Zone(zoneName);
    for (let hour = 0; hour < 24; hour++) {
      for (const minute of [0, 17, 30, 59]) {
        const expected = `${String(hour).padStart(2, "0")}:${String(minute).padStart(2, "0")}`;
        const runs = runsBetween(zoned(`${minute} ${hour} * * *`, zoneName), day.from, day.to);
        expect(runs, `${expected} in ${zoneName}`).toHaveLength(1);
        const fired = wall(zone, runs[0]!);
        if (fired !== expected) {
          // Only a wall time that did not exist that day may move, and only to the jump.
          expect(afterJump, `${expected} fired at ${fired}`).not.toBeNull();
          expect(fired).toBe(afterJump);
          expect(hour).toBe(2);
        }
      }
    }
  });
});

describe("wildcard lines across DST (wall clock)", () => {
  it("fire in both copies of a repeated hour", () => {
    const matcher = zoned("*/30 * * * *", "Europe/Paris");
    expect(matcher(at("2026-10-25T00:30Z"))).toBe(true);
    expect(matcher(at("2026-10-25T01:30Z"))).toBe(true);
    expect(iso(runsBetween(matcher, at("2026-10-24T23:30Z"), at("2026-10-25T02:01Z")))).toEqual([
      "2026-10-24T23:30Z",
      "2026-10-25T00:00Z",
      "2026-10-25T00:30Z",
      "2026-10-25T01:00Z",
      "2026-10-25T01:30Z",
      "2026-10-25T02:00Z",
    ]);
    // A 25-hour local day has 50 half hours.
    expect(runsBetween(matcher, PARIS_FALL_DAY.from, PARIS_FALL_DAY.to)).toHaveLength(50);
  });

  it("have no runs in a skipped hour", () => {
    const matcher = zoned("*/30 * * * *", "Europe/Paris");
    const runs = runsBetween(matcher, PARIS_SPRING_DAY.from, PARIS_SPRING_DAY.to);
    expect(runs).toHaveLength(46);
    expect(runs.map((d) => wall(paris, d)).filter((t) => t.startsWith("02:"))).toEqual([]);
    expect(iso(runs.slice(2, 5))).toEqual(["2026-03-29T00:00Z", "2026-03-29T00:30Z", "2026-03-29T01:00Z"]);
  });

  it("treat a fixed minute with a wildcard hour as hourly", () => {
    const hourly = zoned("15 * * * *", "America/New_York");
    expect(runsBetween(hourly, NY_FALL_DAY.from, NY_FALL_DAY.to)).toHaveLength(25);
    expect(runsBetween(hourly, NY_SPRING_DAY.from, NY_SPRING_DAY.to)).toHaveLength(23);
    expect(hourly(at("2026-11-01T05:15Z"))).toBe(true);
    expect(hourly(at("2026-11-01T06:15Z"))).toBe(true);
  });

  it("treat a wildcard minute with a fixed hour as following the wall clock", () => {
    const everyMinuteAt2 = zoned("* 2 * * *", "Europe/Paris");
    expect(runsBetween(everyMinuteAt2, PARIS_SPRING_DAY.from, PARIS_SPRING_DAY.to)).toHaveLength(0);
    expect(runsBetween(everyMinuteAt2, PARIS_FALL_DAY.from, PARIS_FALL_DAY.to)).toHaveLength(120);
  });
});

describe("utcMatcher", () => {
  it("matches on UTC fields", () => {
    const matcher = utcMatcher(digestMatcher("30 2 * * *"));
    expect(matcher(at("2026-03-29T02:30Z"))).toBe(true);
    expect(matcher(at("2026-03-29T01:00Z"))).toBe(false);
    expect(runsBetween(matcher, at("2026-10-25T00:00Z"), at("2026-10-26T00:00Z"))).toHaveLength(1);
  });
});

describe("instantOfDigest", () => {
  it("round-trips a digest near now", () => {
    const t = at("2026-06-01T10:17Z");
    expect(instantOfDigest(digestOf(new Date(t)), t)).toBe(t);
    expect(instantOfDigest(digestOf(new Date(t)), t + 3 * HOUR)).toBe(t);
  });

  it("picks the year nearest now across New Year", () => {
    const lastMinute = digestOf(new Date(at("2025-12-31T23:55Z")));
    expect(instantOfDigest(lastMinute, at("2026-01-01T00:05Z"))).toBe(at("2025-12-31T23:55Z"));
    const firstMinute = digestOf(new Date(at("2027-01-01T00:05Z")));
    expect(instantOfDigest(firstMinute, at("2026-12-31T23:55Z"))).toBe(at("2027-01-01T00:05Z"));
  });

  it("returns null for 29 February when no nearby year is a leap year", () => {
    const leapDay = { min: 0, hour: 12, date: 29, month: 2, dow: 0 };
    // Years 2025..2027 are all common years.
    expect(instantOfDigest(leapDay, at("2026-06-01T00:00Z"))).toBeNull();
    expect(instantOfDigest(leapDay, at("2027-06-01T00:00Z"))).toBe(at("2028-02-29T12:00Z"));
    expect(instantOfDigest(leapDay, at("2028-03-01T00:00Z"))).toBe(at("2028-02-29T12:00Z"));
  });
});

describe("asDigestMatcher", () => {
  it.each([
    ["30 2 * * *", "Europe/Paris", "2026-10-25T12:00Z"],
    ["*/30 * * * *", "Europe/Paris", "2026-10-25T12:00Z"],
    ["30 2 * * *", "Europe/Paris", "2026-03-29T12:00Z"],
    ["0,45 1,2,3 * * 0", "America/New_York", "2026-11-01T12:00Z"],
  ])("agrees with the instant matcher for %s in %s", (expression, zone, now) => {
    const instant = zoned(expression, zone);
    const fixedNow = at(now);
    const digest = asDigestMatcher(instant, () => fixedNow);
    let fired = 0;
    // Every minute of the 36 hours around the transition.
    for (let t = fixedNow - 24 * HOUR; t < fixedNow + 12 * HOUR; t += MINUTE) {
      const expected = instant(t);
      if (digest(digestOf(new Date(t))) !== expected) throw new Error(`disagree at ${new Date(t).toISOString()}`);
      if (expected) fired++;
    }
    expect(fired).toBeGreaterThan(0);
  });

  it("never fires for a digest with no instant near now", () => {
    const always = asDigestMatcher(() => true, () => at("2026-06-01T00:00Z"));
    expect(always({ min: 0, hour: 0, date: 29, month: 2, dow: 0 })).toBe(false);
    expect(always({ min: 0, hour: 0, date: 28, month: 2, dow: 6 })).toBe(true);
  });
});
