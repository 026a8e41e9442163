import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseCrontabFile } from "../src/crontab/parse-crontab.js";
import { digestOf, nextRuns } from "../src/crontab/schedule-matcher.js";
import { PgmillProblemsError } from "../src/errors.js";
import { defineTask, taskRegistry } from "../src/tasks/define-task.js";

const greet = defineTask({
  name: "greet",
  payload: z.object({ name: z.string() }),
  maxAttempts: 4,
  handler: async () => {},
});
const noop = defineTask({ name: "noop", payload: z.object({}), handler: async () => {} });
const tasks = taskRegistry(greet, noop);

const MINUTE = 60_000;

/** Parses text that must be invalid, and returns the thrown error. */
function problemsOf(text: string, label?: string): PgmillProblemsError {
  try {
    parseCrontabFile(text, tasks, label);
  } catch (error) {
    expect(error).toBeInstanceOf(PgmillProblemsError);
    return error as PgmillProblemsError;
  }
  throw new Error("expected parseCrontabFile to throw");
}

describe("parseCrontabFile", () => {
  it("skips comments and blank lines and keeps the file's line numbers", () => {
    const text = [
      "# nightly jobs",
      "",
      "   ",
      "0 3 * * * noop",
      "  # indented comment",
      "*/5 * * * * greet {name: 'Ada'}",
      "",
    ].join("\r\n");
    const entries = parseCrontabFile(text, tasks);
    expect(entries.map((e) => [e.line, e.task, e.identifier, e.timezone])).toEqual([
      [4, "noop", "noop", null],
      [6, "greet", "greet", null],
    ]);
    expect(entries[1]?.source).toBe("*/5 * * * * greet {name: 'Ada'}");
    expect(entries[1]?.item.payload).toEqual({ name: "Ada" });
  });

  it("returns no entries for a file with only comments", () => {
    expect(parseCrontabFile("# nothing\n\n#  here\n", tasks)).toEqual([]);
  });

  it("accepts ?tz=, strips it before graphile-worker and keeps the other options", () => {
    const [entry] = parseCrontabFile("0 9 * * 1-5 greet ?tz=Europe/Paris&id=morning&fill=1h {name: 'Lin'}", tasks);
    expect(entry).toBeDefined();
    expect(entry!.timezone).toBe("Europe/Paris");
    expect(entry!.identifier).toBe("morning");
    expect(entry!.item.identifier).toBe("morning");
    expect(entry!.item.options.backfillPeriod).toBe(60 * MINUTE);
    expect(entry!.item.payload).toEqual({ name: "Lin" });
    // 09:00 in Paris on a winter Monday is 08:00 UTC.
    expect(entry!.matchesAt(Date.parse("2026-01-05T08:00Z"))).toBe(true);
    expect(entry!.matchesAt(Date.parse("2026-01-05T09:00Z"))).toBe(false);
  });

  it("accepts ?tz= as the only option", () => {
    const [entry] = parseCrontabFile("0 9 * * * greet ?tz=America/New_York {name: 'x'}", tasks);
    expect(entry?.timezone).toBe("America/New_York");
    expect(entry?.identifier).toBe("greet");
    expect(entry?.item.options.backfillPeriod).toBe(0);
    expect(entry?.matchesAt(Date.parse("2026-01-05T14:00Z"))).toBe(true);
  });

  it("gives graphile-worker a matcher that follows the line's timezone", () => {
    const [entry] = parseCrontabFile("0 9 * * * noop ?tz=Asia/Tokyo", tasks);
    const [run] = nextRuns(entry!.matchesAt, Date.now(), 1);
    expect(run).toBeDefined();
    // Tokyo is UTC+9 all year: 09:00 there is 00:00 UTC.
    expect(run!.getUTCHours()).toBe(0);
    expect(entry!.item.match(digestOf(run!))).toBe(true);
    expect(entry!.item.match(digestOf(new Date(run!.getTime() + 9 * 60 * MINUTE)))).toBe(false);
  });

  it("fills maxAttempts from the task unless the line gives ?max=", () => {
    const entries = parseCrontabFile(
      ["0 1 * * * greet {name: 'a'}", "0 2 * * * greet ?max=2&id=twice {name: 'b'}", "0 3 * * * noop"].join("\n"),
      tasks,
    );
    expect(entries.map((e) => e.item.options.maxAttempts)).toEqual([4, 2, undefined]);
  });

  it("matches a UTC line on UTC minutes", () => {
    const [entry] = parseCrontabFile("30 14 * * * noop", tasks);
    expect(entry?.timezone).toBeNull();
    expect(entry?.matchesAt(Date.parse("2026-01-05T14:30:00Z"))).toBe(true);
    expect(entry?.matchesAt(Date.parse("2026-01-05T14:31:00Z"))).toBe(false);
    expect(entry?.matchesAt(Date.parse("2026-07-05T14:30:00Z"))).toBe(true);
  });

  it("reports every bad line at once, each prefixed with label and line", () => {
    const text = [
      "# header", // 1
      "61 * * * * noop", // 2: bad minute
      "0 0 * * * nope", // 3: unknown task
      "0 0 * * * greet {name: 3}", // 4: payload fails the schema
      "0 0 * * * noop ?tz=Mars/Olympus&id=mars", // 5: unknown zone
      "0 1 * * * greet ?id=hello {name: 'a'}", // 6: fine
      "0 2 * * * greet ?id=hello {name: 'b'}", // 7: duplicate of 6
      "0 3 * * * noop ?bogus=1", // 8: unknown option
      "hello world", // 9: not a crontab line
      "", // 10
      "15 4 * * * noop", // 11: fine
    ].join("\n");
    const error = problemsOf(text, "jobs.crontab");
    expect(error.code).toBe("PGMILL_INVALID_CRONTAB");
    expect(error.message.split("\n")[0]).toBe("Invalid jobs.crontab:");

    const byLine = new Map<number, string>();
    for (const problem of error.problems) {
      const match = /^jobs\.crontab:(\d+): (.+)$/.exec(problem);
      expect(match, problem).not.toBeNull();
      byLine.set(Number(match![1]), match![2]!);
    }
    expect([...byLine.keys()]).toEqual([2, 3, 4, 5, 7, 8, 9]);
    expect(byLine.get(2)).toContain("61");
    expect(byLine.get(3)).toContain("unknown task 'nope'");
    expect(byLine.get(3)).toContain("greet, noop");
    expect(byLine.get(4)).toContain("greet");
    expect(byLine.get(4)).toMatch(/\bname\b/);
    expect(byLine.get(5)).toContain("Mars/Olympus");
    expect(byLine.get(7)).toContain("hello");
    expect(byLine.get(7)).toContain("line 6");
    expect(byLine.get(8)).toContain("bogus");
    expect(byLine.get(9)).toBeTruthy();
  });

  it("names the field when a missing payload fails the schema", () => {
    const error = problemsOf("\n\n0 0 * * * greet");
    expect(error.problems).toEqual([expect.stringMatching(/^crontab:3: payload for task 'greet': .*\bname\b/)]);
  });

  it("rejects ?tz= given twice", () => {
    const error = problemsOf("0 0 * * * noop ?tz=UTC&tz=Europe/Paris");
    expect(error.problems).toEqual([expect.stringMatching(/^crontab:1: .*tz/)]);
  });

  it("uses the graphile-worker line numbers in its own messages", () => {
    // graphile-worker mentions the line itself; it must agree with ours.
    const error = problemsOf("# one\n# two\n0 0 * * * noop ?max=lots");
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^crontab:3: .*line 3\b/);
  });
});

// A small seeded PRNG so failures reproduce.
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("parseCrontabFile fuzz", () => {
  const random = mulberry32(20260329);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (max: number) => Math.floor(random() * max);

  const VALID = [
    "0 9 * * 1-5 greet ?tz=Europe/Paris&id=a&fill=2h {name: 'x'}",
    "*/15 * * * * noop ?max=3&queue=q1",
    "30 2 29 2 * greet ?tz=America/New_York {name: \"y\"}",
    "0 0,12 1 */2 0 noop ?priority=-5&jobKey=k&jobKeyMode=preserve_run_at",
  ];
  const FIELDS = ["*", "*/0", "*/7", "0", "59", "60", "99", "7", "1-5", "5-1", "1,2,3", "-", ",", "a", "", "**", "1-", "3/2"];
  const COMMANDS = ["greet", "noop", "nope", "9bad", "greet:sub", "noop-x", "__proto__", "constructor"];
  const OPTIONS = [
    "",
    " ?tz=Europe/Paris",
    " ?tz=Mars/Olympus",
    " ?tz=%E0%A4%A",
    " ?tz=",
    " ?tz=UTC&tz=UTC",
    " ?id=x&id=y",
    " ?max=abc",
    " ?fill=1q",
    " ?priority=1.5",
    " ?jobKeyMode=bad",
    " ?&&",
    " ?=",
    " ?unknown=1",
  ];
  const PAYLOADS = ["", " {}", " {name: 'x'}", " {name: 1}", " {", " {]}", " [1]", " {name: 'x', extra: true}", " 'str'"];
  const CHARS = "0123456789 */,-?&=#{}[]:'\"\\%abcXYZ_\t\r\nüé😀\u0000\u2028";

  function randomLine(): string {
    switch (int(3)) {
      case 0: // random characters
        return Array.from({ length: int(60) }, () => pick([...CHARS])).join("");
      case 1: {
        // a valid line cut short, maybe with a character flipped
        const line = pick(VALID).slice(0, int(70));
        if (!line || random() < 0.5) return line;
        const at = int(line.length);
        return line.slice(0, at) + pick([...CHARS]) + line.slice(at + 1);
      }
      default: // random field values, task, options and payload
        return (
          Array.from({ length: 5 }, () => pick(FIELDS)).join(" ") +
          " " +
          pick(COMMANDS) +
          pick(OPTIONS) +
          pick(PAYLOADS)
        );
    }
  }

  it("only ever returns entries or throws PgmillProblemsError with located problems", () => {
    const lines = Array.from({ length: 300 }, randomLine);
    let parsed = 0;
    let rejected = 0;
    const check = (text: string) => {
      try {
        const entries = parseCrontabFile(text, tasks);
        parsed += entries.length;
      } catch (error) {
        if (!(error instanceof PgmillProblemsError)) {
          throw new Error(`unexpected ${String(error)} for ${JSON.stringify(text)}`);
        }
        expect(error.code).toBe("PGMILL_INVALID_CRONTAB");
        expect(error.problems.length).toBeGreaterThan(0);
        for (const problem of error.problems) expect(problem, JSON.stringify(text)).toMatch(/^crontab:\d+: /);
        rejected++;
      }
    };
    for (const line of lines) check(line);
    // And as whole files, where line numbers and duplicate checks span lines.
    for (let i = 0; i < lines.length; i += 20) check(lines.slice(i, i + 20).join("\n"));

    // The generator must exercise both outcomes, or the property says little.
    expect(parsed).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
