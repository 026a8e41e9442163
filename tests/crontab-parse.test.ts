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

  // Each of these once parsed, then failed graphile-worker's add_job (or its JSON
  // encoding) at every tick, and with it every other line due that minute.
  it.each([
    ["?max=0", /option 'max' must be from 1 to 32767, not 0/],
    ["?max=40000", /option 'max' must be from 1 to 32767, not 40000/],
    [`?max=${"9".repeat(400)}`, /option 'max' .* not a number that large/],
    ["?priority=-32769", /option 'priority' must be from -32768 to 32767/],
    [`?queue=${"q".repeat(129)}`, /option 'queue' is 129 characters long; the most is 128/],
    ["?jobKey=", /option 'jobKey' must be 1 to 512 characters long, not 0/],
    [`?jobKey=${"k".repeat(513)}`, /option 'jobKey' must be 1 to 512 characters long, not 513/],
    ["?fill=53w", /option 'fill' must be at most 366d/],
    [`?fill=${"9".repeat(400)}w`, /option 'fill' must be at most 366d/],
  ])("rejects %s, which graphile-worker's add_job would refuse", (options, message) => {
    const error = problemsOf(`\n0 0 * * * noop ${options}`);
    expect(error.problems).toEqual([expect.stringMatching(new RegExp(`^crontab:2: ${message.source}`))]);
  });

  it("accepts the limits themselves", () => {
    const [entry] = parseCrontabFile(`0 0 * * * noop ?max=32767&priority=-32768&fill=366d&queue=${"q".repeat(128)}&jobKey=k`, tasks);
    expect(entry?.item.options).toMatchObject({ maxAttempts: 32767, priority: -32768, backfillPeriod: 366 * 24 * 60 * MINUTE });
  });

  it("rejects a payload nested too deeply to send as JSON", () => {
    const error = problemsOf(`0 0 * * * noop {a: ${"[".repeat(10_000)}${"]".repeat(10_000)}}`);
    expect(error.problems).toEqual(["crontab:1: payload is nested too deeply to send as JSON"]);
  });

  it("checks the payload as JSON delivers it (JSON5's Infinity arrives as null)", () => {
    const error = problemsOf("0 0 * * * greet {name: Infinity}");
    expect(error.problems).toEqual([expect.stringMatching(/^crontab:1: payload for task 'greet': .*\bname\b/)]);
  });

  it("parses a very long file line by line (each line used to be re-padded to its number: quadratic)", () => {
    const lines = Array.from({ length: 30_000 }, (_, i) => `${i % 60} * * * * noop ?id=line${i}`);
    lines.push("0 0 * * * nope");
    const error = problemsOf(lines.join("\n"));
    expect(error.problems).toEqual([expect.stringMatching(/^crontab:30001: unknown task 'nope'/)]);
  }, 30_000);

  it("uses the graphile-worker line numbers in its own messages", () => {
    // graphile-worker mentions the line itself; it must agree with ours.
    const error = problemsOf("# one\n# two\n0 0 * * * noop ?max=lots");
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^crontab:3: .*line 3\b/);
  });
});
