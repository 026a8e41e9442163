import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { nextTicks, parseCrontabFile } from "../../src/crontab/parse-crontab.js";
import { PgmillProblemsError } from "../../src/errors.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { expectJson, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { onFileCleanup } from "../support/file-cleanup.js";

// The crontab syntax of the controls: `@every` lines and `?overlap=`. No database.
const greet = defineTask({ name: "greet", payload: z.object({ name: z.string() }), handler: async () => {} });
const noop = defineTask({ name: "noop", payload: z.object({}), maxAttempts: 3, handler: async () => {} });
const tasks = taskRegistry(greet, noop);

function problemsOf(text: string): readonly string[] {
  try {
    parseCrontabFile(text, tasks, "crontab");
  } catch (error) {
    expect(error).toBeInstanceOf(PgmillProblemsError);
    return (error as PgmillProblemsError).problems;
  }
  throw new Error("expected parseCrontabFile to throw");
}

describe("@every lines", () => {
  it("parse durations in h/m/s parts, with the task's options and payload", () => {
    const [ten, ninety, hours] = parseCrontabFile(
      ["@every 10s greet ?id=fast&priority=2 {name: 'Ada'}", "@every 1m30s noop ?id=ninety", "@every 2h noop ?id=hours"].join("\n"),
      tasks,
    );
    expect(ten).toMatchObject({ identifier: "fast", task: "greet", schedule: "@every 10s", everyMs: 10_000, overlap: "allow" });
    expect(ten!.item.payload).toEqual({ name: "Ada" });
    expect(ten!.item.options.priority).toBe(2);
    expect(ninety).toMatchObject({ everyMs: 90_000, schedule: "@every 1m30s" });
    expect(ninety!.item.options.maxAttempts).toBe(3);
    expect(hours!.everyMs).toBe(7_200_000);
  });

  it("tick on multiples of the period since the epoch", () => {
    const [entry] = parseCrontabFile("@every 10s noop ?id=t", tasks);
    const ticks = nextTicks(entry!, Date.UTC(2026, 0, 1, 0, 0, 3), 3).map((d) => d.toISOString());
    expect(ticks).toEqual(["2026-01-01T00:00:10.000Z", "2026-01-01T00:00:20.000Z", "2026-01-01T00:00:30.000Z"]);
    expect(entry!.matchesAt(Date.UTC(2026, 0, 1, 0, 0, 20))).toBe(true);
    expect(entry!.matchesAt(Date.UTC(2026, 0, 1, 0, 0, 25))).toBe(false);
  });

  it("report bad durations, tz and fill with the file and line, all at once", () => {
    const problems = problemsOf(
      [
        "@every 10x noop ?id=a",
        "@every 0s noop ?id=b",
        "@every 25h noop ?id=c",
        "@every 10s",
        "@every 10s noop ?id=d&tz=Europe/Paris",
        "@every 10s noop ?id=e&fill=1h",
        "@every",
        "@every 10s nosuch ?id=f",
        "@everyday noop",
      ].join("\n"),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^crontab:1: '@every 10x': not a duration \(write whole seconds as h, m and s parts: 10s, 1m30s, 2h\)$/),
      expect.stringMatching(/^crontab:2: '@every 0s': the period must be from 1s to 24h/),
      expect.stringMatching(/^crontab:3: '@every 25h': the period must be from 1s to 24h/),
      expect.stringMatching(/^crontab:4: '@every 10s' needs a task after the duration$/),
      expect.stringMatching(/^crontab:5: option 'tz' does not apply to @every lines/),
      expect.stringMatching(/^crontab:6: option 'fill' does not apply to @every lines: they are never backfilled$/),
      expect.stringMatching(/^crontab:7: '@every' needs a duration/),
      expect.stringMatching(/^crontab:8: unknown task 'nosuch'/),
      expect.stringMatching(/^crontab:9: expected '@every DURATION task'/),
    ]);
  });

  it("share identifiers with minute lines: a duplicate is refused", () => {
    expect(problemsOf("* * * * * noop ?id=same\n@every 5s noop ?id=same")).toEqual([
      "crontab:2: duplicate identifier 'same' (also on line 1); give one a unique ?id=",
    ]);
  });
});

describe("?overlap=", () => {
  it("defaults to allow, which adds no job key", () => {
    const [entry] = parseCrontabFile("* * * * * noop ?id=a", tasks);
    expect(entry!.overlap).toBe("allow");
    expect(entry!.item.options.jobKey).toBeUndefined();
  });

  it("skip gives the line's jobs a key that deduplicates while one is queued or running", () => {
    const [minute, every] = parseCrontabFile("*/5 * * * * noop ?id=a&overlap=skip&tz=Europe/Paris\n@every 5s noop ?overlap=skip&id=b", tasks);
    expect(minute).toMatchObject({ overlap: "skip", timezone: "Europe/Paris" });
    expect(minute!.item.options).toMatchObject({ jobKey: "pgmill-cron:a", jobKeyMode: "unsafe_dedupe" });
    expect(every!.item.options).toMatchObject({ jobKey: "pgmill-cron:b", jobKeyMode: "unsafe_dedupe" });
  });

  it("refuses other values, repeats, and an own jobKey beside skip", () => {
    expect(problemsOf("* * * * * noop ?id=a&overlap=never\n* * * * * noop ?id=b&overlap=skip&overlap=allow\n* * * * * noop ?id=c&overlap=skip&jobKey=k")).toEqual([
      "crontab:1: option 'overlap' must be allow or skip, not 'never'",
      "crontab:2: option 'overlap' is given more than once",
      "crontab:3: option 'overlap=skip' sets the job key itself; remove option 'jobKey'",
    ]);
  });
});

describe("pgmill cron check", () => {
  it(
    "accepts @every and ?overlap lines, printing their next ticks to the second",
    async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-cron-syntax-"));
      onFileCleanup(() => rm(dir, { recursive: true, force: true }));
      const file = path.join(dir, "crontab");
      await writeFile(file, '@every 1m30s log-message ?id=ninety&overlap=skip {message: "x"}\n*/5 * * * * log-message ?id=five {message: "y"}\n');
      const lines = expectJson<{ id: string; schedule: string; overlap: string; next_runs: string[] }[]>(
        await runCli(["cron", "check", file, "--json"]),
      );
      expect(lines.map(({ next_runs: _n, ...line }) => line)).toEqual([
        { line: 1, id: "ninety", task: "log-message", schedule: "@every 1m30s", timezone: "UTC", overlap: "skip" },
        { line: 2, id: "five", task: "log-message", schedule: "*/5 * * * *", timezone: "UTC", overlap: "allow" },
      ]);
      expect(lines[0]!.next_runs).toHaveLength(3);
      expect(lines[0]!.next_runs[0]).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+00:00$/);
      await writeFile(file, "@every 10q log-message ?id=x\n");
      const invalid = await runCli(["cron", "check", file]);
      expect(invalid.code).toBe(2);
      expect(invalid.stderr).toContain("crontab:1: '@every 10q': not a duration");
    },
    SLOW_CLI_TIMEOUT,
  );
});
