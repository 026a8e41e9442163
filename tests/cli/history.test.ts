import { randomUUID } from "node:crypto";
import type { Insertable } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import type { JobRunsTable, RunStatus } from "../../src/db/schema.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { expectJson, expectSuccess, expectUserError, parseTable, runCli, SLOW_CLI_TIMEOUT } from "./run-cli.js";

let db: TestDatabase;

const pgmill = (...args: string[]) => runCli(args, { databaseUrl: db.url });

interface HistoryRow {
  job_id: string;
  task: string;
  attempt: number;
  max_attempts: number;
  status: RunStatus;
  started_at: string;
  duration_ms: number;
  error_message: string | null;
  daemon_id: string;
}

const MINUTE = 60_000;

function run(jobId: number, task: string, status: RunStatus, startedMinutesAgo: number, extra: Partial<Insertable<JobRunsTable>> = {}): Insertable<JobRunsTable> {
  const startedAt = new Date(Date.now() - startedMinutesAgo * MINUTE);
  return {
    id: randomUUID(),
    job_id: jobId,
    task,
    queue: null,
    job_key: null,
    attempt: 1,
    max_attempts: 3,
    status,
    error_message: status === "succeeded" ? null : `${task} job ${jobId} ${status}`,
    error_stack: status === "succeeded" ? null : "Error: boom\n    at handler (task.ts:1:1)",
    started_at: startedAt,
    finished_at: new Date(startedAt.getTime() + 1_500),
    duration_ms: 1_500,
    daemon_id: "daemon-a",
    payload: null,
    ...extra,
  };
}

// Failed http attempts 1..7 minutes ago (job 101 newest), plus other tasks,
// statuses and an old attempt, so every filter has something to exclude.
const FAILED_HTTP_JOBS = [101, 102, 103, 104, 105, 106, 107];

beforeAll(async () => {
  db = await createTestDatabase();
});

beforeAll(async () => {
  await db.handle.db
    .insertInto("pgmill.job_runs")
    .values([
      ...FAILED_HTTP_JOBS.map((jobId, i) => run(jobId, "http", "failed", i + 1, { payload: JSON.stringify({ url: "https://example.com" }) })),
      run(108, "http", "succeeded", 0.5, { duration_ms: 12.345 }),
      run(109, "http", "failed", 180), // three hours ago
      run(110, "http", "timed_out", 20),
      run(201, "log-message", "failed", 2),
      run(201, "log-message", "failed", 1, { attempt: 2 }),
      run(201, "log-message", "dead", 0.25, { attempt: 3 }),
      run(202, "log-message", "succeeded", 90, { daemon_id: "daemon-b" }),
    ])
    .execute();
});

describe("pgmill history", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("--task --status --limit filter attempts, newest first, as JSON", async () => {
    const rows = expectJson<HistoryRow[]>(await pgmill("history", "--task", "http", "--status", "failed", "--limit", "5", "--json"));
    expect(rows.map((r) => r.job_id)).toEqual(["101", "102", "103", "104", "105"]);
    for (const row of rows) expect(row).toMatchObject({ task: "http", status: "failed", attempt: 1, max_attempts: 3, daemon_id: "daemon-a" });
    expect(rows[0]).toEqual({
      job_id: "101",
      task: "http",
      attempt: 1,
      max_attempts: 3,
      status: "failed",
      started_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      duration_ms: 1500,
      error_message: "http job 101 failed",
      daemon_id: "daemon-a",
    });
  });

  it("without --limit returns every match (up to 50), including the old ones", async () => {
    const rows = expectJson<HistoryRow[]>(await pgmill("history", "--task", "http", "--status", "failed", "--json"));
    expect(rows.map((r) => r.job_id)).toEqual([...FAILED_HTTP_JOBS.map(String), "109"]);
  });

  it("--since keeps only attempts started within the duration", async () => {
    const since = Date.now() - 60 * MINUTE;
    const [all, httpOnly] = await Promise.all([
      pgmill("history", "--since", "1h", "--json"),
      pgmill("history", "--since", "1h", "--task", "http", "--json"),
    ]);
    const rows = expectJson<HistoryRow[]>(all);
    // Not job 109 (3 hours ago) nor job 202 (90 minutes ago).
    expect(rows.map((r) => r.job_id).sort()).toEqual(["101", "102", "103", "104", "105", "106", "107", "108", "110", "201", "201", "201"]);
    for (const row of rows) expect(Date.parse(row.started_at)).toBeGreaterThanOrEqual(since - MINUTE);
    const started = rows.map((r) => Date.parse(r.started_at));
    expect(started).toEqual([...started].sort((a, b) => b - a));
    expect(expectJson<HistoryRow[]>(httpOnly).map((r) => r.job_id)).toEqual(["108", "101", "102", "103", "104", "105", "106", "107", "110"]);
  });

  it("--job shows one job's attempts; --status dead finds the last one", async () => {
    const [job, dead] = await Promise.all([pgmill("history", "--job", "201", "--json"), pgmill("history", "--status", "dead", "--json")]);
    expect(expectJson<HistoryRow[]>(job).map((r) => [r.attempt, r.status])).toEqual([
      [3, "dead"],
      [2, "failed"],
      [1, "failed"],
    ]);
    expect(expectJson<HistoryRow[]>(dead).map((r) => [r.job_id, r.attempt])).toEqual([["201", 3]]);
  });

  it("prints a table with a header row without --json", async () => {
    const table = parseTable(expectSuccess(await pgmill("history", "--task", "log-message")));
    expect(table.header).toEqual(["job_id", "task", "attempt", "max_attempts", "status", "started_at", "duration_ms", "error_message", "daemon_id"]);
    expect(table.rows.map((r) => [r.job_id, r.attempt, r.status, r.error_message, r.daemon_id])).toEqual([
      ["201", "3", "dead", "log-message job 201 dead", "daemon-a"],
      ["201", "2", "failed", "log-message job 201 failed", "daemon-a"],
      ["201", "1", "failed", "log-message job 201 failed", "daemon-a"],
      ["202", "1", "succeeded", "", "daemon-b"],
    ]);
  });

  it("says so when nothing matches", async () => {
    const [text, json] = await Promise.all([pgmill("history", "--task", "no-such-task"), pgmill("history", "--task", "no-such-task", "--json")]);
    expect(expectSuccess(text)).toBe("no attempts recorded\n");
    expect(expectJson(json)).toEqual([]);
  });

  it("bad --since, --status, --limit or --job values exit 2, each named by its flag", async () => {
    const [since, several] = await Promise.all([
      pgmill("history", "--since", "5x"),
      pgmill("history", "--status", "exploded", "--limit", "0", "--job", "abc", "--since", "1.5h"),
    ]);
    expect(expectUserError(since)).toMatch(/^\s+--since: expected a duration/m);
    const problems = expectUserError(several);
    for (const flag of ["--status", "--limit", "--job", "--since"]) expect(problems).toMatch(new RegExp(`^\\s+${flag}: `, "m"));
  });

  it("a --job beyond bigint or a --since reaching past Postgres's timestamp range is a user error naming the flag, not a crash", async () => {
    const [job, since] = await Promise.all([
      pgmill("history", "--job", "99999999999999999999"),
      pgmill("history", "--since", "999999w"),
    ]);
    expect(expectUserError(job)).toMatch(/--job/);
    expect(expectUserError(since)).toMatch(/--since/);
  });
});
