import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { expectJson, expectSuccess, parseTable, runCli, SLOW_CLI_TIMEOUT, type Table } from "./run-cli.js";

let db: TestDatabase;
let dir: string;
let crontab: string;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

interface Status {
  jobs: { task: string; state: string; jobs: string | number }[];
  daemons: { id: string; state: string; jobs_in_flight: number; seconds_since_beat: number }[];
  running: { id: string; task: string; attempts: number; max_attempts: number; locked_at: string; locked_by: string }[];
  cancels: { job_id: string; task: string; requested_at: string; requested_by: string; seconds_waiting: number }[];
  deadLetters: { task: string; dead_letters: string | number; last_died_at: string }[];
  cron: { id: string; task: string; timezone: string; next_fire: string | null }[];
  paused: { task: string; paused_at: string; paused_by: string; held_jobs: number }[];
}

const pgmill = (...args: string[]) => runCli(args, { databaseUrl: db.url, env: { PGMILL_CRONTAB: crontab } });

async function addJob(task: string, payload: unknown, options: { runAt?: Date; maxAttempts?: number } = {}): Promise<string> {
  const { rows } = await db.handle.pool.query<{ id: string }>(
    "select (graphile_worker.add_job($1, $2::json, run_at => $3, max_attempts => $4)).id",
    [task, JSON.stringify(payload), options.runAt ?? null, options.maxAttempts ?? null],
  );
  return rows[0]!.id;
}

let runningJobId: string;
let newestLogDeath: Date;

beforeAll(async () => {
  db = await createTestDatabase();
});

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-cli-status-"));
  crontab = path.join(dir, "crontab");
  await writeFile(
    crontab,
    [
      '0 9 * * * log-message ?id=morning&tz=Europe/Paris {message: "x"}',
      '*/15 * * * * log-message ?id=quarter {message: "y"}',
      "",
    ].join("\n"),
  );

  const tomorrow = new Date(Date.now() + 24 * HOUR);
  await addJob("log-message", { message: "ready" });
  await addJob("log-message", { message: "later" }, { runAt: tomorrow });
  await addJob("log-message", { message: "much later" }, { runAt: new Date(Date.now() + 7 * 24 * HOUR) });
  await addJob("http", { url: "https://example.com/now" });
  await addJob("http", { url: "https://example.com/later" }, { runAt: tomorrow });
  // A job a worker holds, and one that used up its attempts: states graphile-worker
  // reaches only while running jobs, set directly on its table.
  runningJobId = await addJob("http", { url: "https://example.com/running" }, { maxAttempts: 10 });
  await db.handle.db
    .insertInto("pgmill.daemons")
    .values({ id: "host-a:42:abc", host: "host-a", pid: 42, version: "0.1.0", worker_ids: ["test-worker-1"], state: "running", jobs_in_flight: 1 })
    .execute();
  await db.handle.pool.query("update graphile_worker._private_jobs set locked_at = now(), locked_by = 'test-worker-1', attempts = 1 where id = $1", [
    runningJobId,
  ]);
  // An operator cancelled the running job; no daemon is here to abort it, so the cancel stays in progress.
  await db.handle.pool.query("select pgmill.cancel_job($1)", [runningJobId]);
  const failedJobId = await addJob("log-message", { message: "failed" }, { maxAttempts: 1 });
  await db.handle.pool.query("update graphile_worker._private_jobs set attempts = 1, last_error = 'boom' where id = $1", [failedJobId]);

  // A paused task: its queued job is held.
  await addJob("reports", {});
  await db.handle.pool.query("select pgmill.pause_task('reports')");

  newestLogDeath = new Date(Date.now() - HOUR);
  const letter = { job_revision: 0, priority: 0, payload: JSON.stringify({ message: "dead" }), attempts: 3, max_attempts: 3, reason: "max_attempts" as const };
  await db.handle.db
    .insertInto("pgmill.dead_letters")
    .values([
      { ...letter, job_id: 9001, task: "log-message", died_at: new Date(Date.now() - 5 * HOUR) },
      { ...letter, job_id: 9002, task: "log-message", died_at: newestLogDeath },
      { ...letter, job_id: 9003, task: "http", reason: "permanent_error", died_at: new Date(Date.now() - 2 * HOUR) },
      // Already retried: not pending, not counted.
      { ...letter, job_id: 9004, task: "http", retried_at: new Date(), retried_as_job_id: "1" },
      { ...letter, job_id: 9005, task: "never-pending", retried_at: new Date(), retried_as_job_id: "2" },
    ])
    .execute();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("pgmill status", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("--json reports jobs by task and state, running jobs, pending dead letters and next cron fires", async () => {
    const startedAt = Date.now();
    const status = expectJson<Status>(await pgmill("status", "--json"));

    expect(status.jobs.map(({ task, state, jobs }) => ({ task, state, jobs: Number(jobs) }))).toEqual([
      { task: "http", state: "ready", jobs: 1 },
      { task: "http", state: "running", jobs: 1 },
      { task: "http", state: "scheduled", jobs: 1 },
      { task: "log-message", state: "failed", jobs: 1 },
      { task: "log-message", state: "ready", jobs: 1 },
      { task: "log-message", state: "scheduled", jobs: 2 },
      { task: "reports", state: "held", jobs: 1 },
    ]);
    expect(status.paused).toEqual([{ task: "reports", paused_at: expect.any(String), paused_by: expect.any(String), held_jobs: 1 }]);

    expect(status.daemons).toEqual([expect.objectContaining({ id: "host-a:42:abc", state: "running", jobs_in_flight: 1 })]);
    expect(status.daemons[0]!.seconds_since_beat).toBeLessThan(60);

    expect(status.running).toEqual([
      { id: runningJobId, task: "http", attempts: 1, max_attempts: 10, locked_at: expect.any(String), locked_by: "test-worker-1" },
    ]);

    expect(status.cancels).toEqual([
      { job_id: runningJobId, task: "http", requested_at: expect.any(String), requested_by: expect.any(String), seconds_waiting: expect.any(Number) },
    ]);

    expect(status.deadLetters.map(({ task, dead_letters }) => ({ task, dead_letters: Number(dead_letters) }))).toEqual([
      { task: "http", dead_letters: 1 },
      { task: "log-message", dead_letters: 2 },
    ]);
    expect(Date.parse(status.deadLetters[1]!.last_died_at)).toBe(newestLogDeath.getTime());

    expect(status.cron.map(({ next_fire: _next, ...entry }) => entry)).toEqual([
      { id: "morning", task: "log-message", timezone: "Europe/Paris" },
      { id: "quarter", task: "log-message", timezone: "UTC" },
    ]);
    const [morning, quarter] = status.cron.map((entry) => Date.parse(entry.next_fire ?? ""));
    // 09:00 in Paris, within the next day.
    const paris = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Paris", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    expect(paris.format(morning!)).toBe("09:00");
    expect(morning!).toBeGreaterThanOrEqual(startedAt - MINUTE);
    expect(morning!).toBeLessThanOrEqual(startedAt + 25 * HOUR);
    // The next quarter hour.
    expect(quarter! % (15 * MINUTE)).toBe(0);
    expect(quarter!).toBeGreaterThanOrEqual(startedAt - MINUTE);
    expect(quarter!).toBeLessThanOrEqual(startedAt + 16 * MINUTE);
  });

  it("prints one titled table per section, each with a header row", async () => {
    const output = expectSuccess(await pgmill("status"));
    const sections = new Map<string, Table>();
    for (const block of output.trim().split(/\n\n/)) {
      const [title, ...table] = block.split("\n");
      // A section with nothing to show is one line ("no …"), not a table.
      sections.set(title!, table.length === 1 && table[0]!.startsWith("no ") ? { header: [], rows: [] } : parseTable(table.join("\n")));
    }
    expect([...sections.keys()]).toEqual([
      "Daemons (last 24 hours)",
      "Jobs by task and state",
      "Running (locked) jobs",
      "Cancels in progress (pgmill cancel)",
      "Paused tasks",
      "Dead letters (pending retry)",
      "Next cron fires (crontab)",
      "Crontab lines (as the daemons loaded them)",
    ]);
    const jobs = sections.get("Jobs by task and state")!;
    expect(jobs.header).toEqual(["task", "state", "jobs"]);
    expect(jobs.rows).toContainEqual({ task: "log-message", state: "scheduled", jobs: "2" });
    expect(sections.get("Running (locked) jobs")!.header).toEqual(["id", "task", "attempts", "max_attempts", "locked_at", "locked_by"]);
    expect(sections.get("Running (locked) jobs")!.rows).toEqual([expect.objectContaining({ id: runningJobId, locked_by: "test-worker-1" })]);
    expect(sections.get("Cancels in progress (pgmill cancel)")!.header).toEqual(["job_id", "task", "requested_at", "requested_by", "seconds_waiting"]);
    expect(sections.get("Cancels in progress (pgmill cancel)")!.rows).toEqual([expect.objectContaining({ job_id: runningJobId, task: "http" })]);
    expect(sections.get("Paused tasks")!.rows).toEqual([expect.objectContaining({ task: "reports", held_jobs: "1" })]);
    expect(sections.get("Dead letters (pending retry)")!.header).toEqual(["task", "dead_letters", "last_died_at"]);
    expect(sections.get("Dead letters (pending retry)")!.rows.map((r) => [r.task, r.dead_letters])).toEqual([
      ["http", "1"],
      ["log-message", "2"],
    ]);
    const cron = sections.get("Next cron fires (crontab)")!;
    expect(cron.header).toEqual(["id", "task", "timezone", "next_fire"]);
    expect(cron.rows.map((r) => r.id)).toEqual(["morning", "quarter"]);
  });

  it("without a crontab file, reports no schedules", async () => {
    const missing = path.join(dir, "absent", "crontab");
    const env = { PGMILL_CRONTAB: missing };
    const [json, text] = await Promise.all([
      runCli(["status", "--json"], { databaseUrl: db.url, env }),
      runCli(["status"], { databaseUrl: db.url, env }),
    ]);
    expect(expectJson<Status>(json).cron).toEqual([]);
    expect(expectSuccess(text)).toMatch(
      /\nNext cron fires \(crontab\)\nno schedules\n\nCrontab lines \(as the daemons loaded them\)\nno crontab lines published by a daemon\n$/,
    );
  });
});
