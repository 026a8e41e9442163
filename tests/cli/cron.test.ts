import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectJson, expectSuccess, expectUserError, parseTable, runCli, SLOW_CLI_TIMEOUT } from "./run-cli.js";

// `cron check` needs no database: runCli gives it an unreachable DATABASE_URL.

interface CheckedLine {
  line: number;
  id: string;
  task: string;
  timezone: string;
  next_runs: string[];
}

const GOOD = [
  "# schedules for the CLI tests",
  '0 9 * * * log-message ?id=morning&tz=Europe/Paris {message: "x"}',
  "",
  '*/15 * * * * log-message ?id=quarter {message: "y"}',
].join("\n");

const BAD = [
  "# every line below but one is wrong",
  "0 9 * * * log-message ?id=bad-payload {message: 5}",
  "* * * * * no-such-task",
  '0 9 * * * log-message ?id=bad-zone&tz=Mars/Olympus {message: "x"}',
  '0 99 * * * log-message ?id=bad-hour {message: "x"}',
  '0 9 * * * log-message ?id=twice {message: "fine"}',
  '*/5 * * * * log-message ?id=twice {message: "again"}',
].join("\n");

/** The 2:30 on March Sundays in Paris: the last one falls in the hour skipped by the switch to summer time. */
const SPRING_FORWARD = '30 2 * 3 0 log-message ?id=march-sundays&tz=Europe/Paris {message: "dst"}';

const MINUTE = 60_000;
const RUN = /^(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}) ([+-]\d{2}:\d{2})$/;

let dir: string;
let goodFile: string;
let badFile: string;
let dstFile: string;

/** Each file is named `crontab`, in its own directory: messages are labelled by basename. */
async function crontabIn(name: string, text: string): Promise<string> {
  await mkdir(path.join(dir, name));
  const file = path.join(dir, name, "crontab");
  await writeFile(file, `${text}\n`);
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-cli-cron-"));
  goodFile = await crontabIn("good", GOOD);
  badFile = await crontabIn("bad", BAD);
  dstFile = await crontabIn("dst", SPRING_FORWARD);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** "2026-11-24 09:00 +01:00" as an instant. */
function instantOf(run: string): number {
  const match = RUN.exec(run);
  if (!match) throw new Error(`not a next run: ${run}`);
  const [, date, hour, minute, offset] = match;
  return Date.parse(`${date}T${hour}:${minute}:00${offset}`);
}

function wallClock(instant: number, timeZone: string): string {
  return new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(instant);
}

function expectMorningRuns(runs: readonly string[], startedAt: number): void {
  const instants = runs.map(instantOf);
  for (const [i, run] of runs.entries()) {
    expect(run).toMatch(/^\d{4}-\d{2}-\d{2} 09:00 \+0[12]:00$/);
    // The offset printed is Paris's real offset at that instant.
    expect(wallClock(instants[i]!, "Europe/Paris")).toBe("09:00");
  }
  expect(instants[0]!).toBeGreaterThanOrEqual(startedAt - MINUTE);
  expect(instants[0]!).toBeLessThanOrEqual(startedAt + 25 * 60 * MINUTE);
  // One a day, on consecutive days.
  for (let i = 1; i < runs.length; i++) {
    const days = (Date.parse(runs[i]!.slice(0, 10)) - Date.parse(runs[i - 1]!.slice(0, 10))) / (24 * 60 * MINUTE);
    expect(days).toBe(1);
  }
}

function expectQuarterRuns(runs: readonly string[], startedAt: number): void {
  const instants = runs.map(instantOf);
  for (const run of runs) expect(run).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:(00|15|30|45) \+00:00$/);
  expect(instants[0]!).toBeGreaterThanOrEqual(startedAt - MINUTE);
  expect(instants[0]!).toBeLessThanOrEqual(startedAt + 16 * MINUTE);
  for (let i = 1; i < instants.length; i++) expect(instants[i]! - instants[i - 1]!).toBe(15 * MINUTE);
}

describe("pgmill cron check", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("--json prints each line with its timezone and 3 next runs", async () => {
    const startedAt = Date.now();
    const lines = expectJson<CheckedLine[]>(await runCli(["cron", "check", goodFile, "--json"]));
    expect(lines.map(({ next_runs: _runs, ...line }) => line)).toEqual([
      { line: 2, id: "morning", task: "log-message", schedule: "0 9 * * *", timezone: "Europe/Paris", overlap: "allow" },
      { line: 4, id: "quarter", task: "log-message", schedule: "*/15 * * * *", timezone: "UTC", overlap: "allow" },
    ]);
    const [morning, quarter] = lines;
    expect(morning!.next_runs).toHaveLength(3);
    expect(quarter!.next_runs).toHaveLength(3);
    expectMorningRuns(morning!.next_runs, startedAt);
    expectQuarterRuns(quarter!.next_runs, startedAt);
  });

  it("--count 5 prints 5 next runs per line", async () => {
    const startedAt = Date.now();
    const [morning, quarter] = expectJson<CheckedLine[]>(await runCli(["cron", "check", goodFile, "--count", "5", "--json"]));
    expect(morning!.next_runs).toHaveLength(5);
    expect(quarter!.next_runs).toHaveLength(5);
    expectMorningRuns(morning!.next_runs, startedAt);
    expectQuarterRuns(quarter!.next_runs, startedAt);
  });

  it("prints a table with a header row when --json is not given", async () => {
    const table = parseTable(expectSuccess(await runCli(["cron", "check", goodFile])));
    expect(table.header).toEqual(["line", "id", "task", "schedule", "timezone", "overlap", "next_runs"]);
    expect(table.rows.map((row) => [row.line, row.id, row.task, row.timezone])).toEqual([
      ["2", "morning", "log-message", "Europe/Paris"],
      ["4", "quarter", "log-message", "UTC"],
    ]);
    expect(table.rows[0]!.next_runs).toMatch(/^\["\d{4}-\d{2}-\d{2} 09:00 \+0[12]:00",/);
  });

  it("without a file argument, checks the crontab PGMILL_CRONTAB names", async () => {
    const lines = expectJson<CheckedLine[]>(await runCli(["cron", "check", "--json"], { env: { PGMILL_CRONTAB: goodFile } }));
    expect(lines.map((line) => line.id)).toEqual(["morning", "quarter"]);
  });

  it("a time skipped by the spring-forward runs at the first minute after the jump", async () => {
    const startedAt = Date.now();
    const [line] = expectJson<CheckedLine[]>(await runCli(["cron", "check", dstFile, "--count", "6", "--json"]));
    // Expected independently: every March Sunday runs at 02:30 CET, except the
    // last one (Europe's switch day, 02:00 -> 03:00), which runs at 03:00 CEST.
    const expected: string[] = [];
    for (let day = Date.UTC(new Date(startedAt).getUTCFullYear(), 0, 1); expected.length < 6; day += 24 * 60 * MINUTE) {
      const date = new Date(day);
      if (date.getUTCMonth() !== 2 || date.getUTCDay() !== 0) continue;
      const lastSunday = date.getUTCDate() + 7 > 31;
      const instant = day + (lastSunday ? 60 : 90) * MINUTE; // 01:00 or 01:30 UTC
      if (instant < startedAt) continue;
      expected.push(`${date.toISOString().slice(0, 10)} ${lastSunday ? "03:00 +02:00" : "02:30 +01:00"}`);
    }
    expect(line!.next_runs).toEqual(expected);
  });

  it("an empty crontab has no schedules", async () => {
    const emptyFile = await crontabIn("empty", "# nothing scheduled yet");
    expect(expectSuccess(await runCli(["cron", "check", emptyFile]))).toBe("crontab has no schedules\n");
    expect(expectJson(await runCli(["cron", "check", emptyFile, "--json"]))).toEqual([]);
  });

  it("a crontab with errors exits 2 and reports every problem as crontab:LINE:", async () => {
    const stderr = expectUserError(await runCli(["cron", "check", badFile, "--json"]));
    expect(stderr).toContain("Invalid crontab:");
    const problems = stderr.split("\n").filter((line) => /^\s+crontab:\d+: /.test(line));
    expect(problems.map((line) => /crontab:(\d+):/.exec(line)![1])).toEqual(["2", "3", "4", "5", "7"]);
    const problem = (line: number) => problems.find((p) => p.includes(`crontab:${line}: `)) ?? "";
    expect(problem(2)).toMatch(/payload for task 'log-message'.*message/);
    expect(problem(3)).toContain("unknown task 'no-such-task' (known: http, log-message)");
    expect(problem(4)).toContain("unknown timezone 'Mars/Olympus'");
    expect(problem(5)).toContain("99");
    expect(problem(7)).toContain("duplicate identifier 'twice' (also on line 6)");
  });

  it("--count must be a whole number from 1 to 100", async () => {
    for (const count of ["0", "abc", "101"]) {
      expect(expectUserError(await runCli(["cron", "check", goodFile, "--count", count]))).toMatch(/^\s+--count: /m);
    }
  });

  it("a crontab file that does not exist is a user error: exit 2, the path named, no stack trace", async () => {
    const missing = path.join(dir, "no-such-dir", "crontab");
    const stderr = expectUserError(await runCli(["cron", "check", missing]));
    expect(stderr).toContain(missing);
  });
});
