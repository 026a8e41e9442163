import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { JobInfo } from "../../src/index.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { expectJson, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

// pgmill.run_cron_now / `pgmill cron run`: a line's job now, with its payload and options.
const seen: { payload: unknown; job: JobInfo }[] = [];
const tasks = taskRegistry(
  defineTask({
    name: "report",
    payload: z.object({ region: z.string() }),
    handler: async (payload, { job }) => void seen.push({ payload, job }),
  }),
);
// A line that would not fire during the test on its own.
const crontab = `0 3 1 1 * report ?id=yearly-report&queue=reports&priority=3&max=7 {region: "eu"}\n@every 1h report ?id=hourly {region: "us"}\n`;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await startTestDaemon(db, tasks, { crontab });
});

const byId = (id: string) => () => seen.find((s) => s.job.id === id);

describe("run a crontab line now", () => {
  it("from SQL: the line's payload and options, and job.cron says it was started by hand", async () => {
    const { rows } = await sql<{ id: string }>`select pgmill.run_cron_now('yearly-report') as id`.execute(db.handle.db);
    const run = await waitFor("the handler to run", byId(String(rows[0]!.id)));
    expect(run.payload).toEqual({ region: "eu" });
    expect(run.job).toMatchObject({ task: "report", queue: "reports", priority: 3, maxAttempts: 7 });
    expect(run.job.cron).toMatchObject({ backfilled: false, manual: true });
    expect(Math.abs(Date.parse(run.job.cron!.ts) - Date.now())).toBeLessThan(60_000);
    // Status shows when the line last ran by hand.
    const { rows: line } = await sql<{ at: Date | null }>`
      select last_manual_run_at as at from pgmill.cron_lines where identifier = 'yearly-report'`.execute(db.handle.db);
    expect(line[0]!.at).not.toBeNull();
  });

  it("works for @every lines too", async () => {
    const { rows } = await sql<{ id: string }>`select pgmill.run_cron_now('hourly') as id`.execute(db.handle.db);
    const run = await waitFor("the handler to run", byId(String(rows[0]!.id)));
    expect(run.payload).toEqual({ region: "us" });
    expect(run.job.cron?.manual).toBe(true);
  });

  it("refuses an unknown id, naming it and the known ones", async () => {
    await expect(sql`select pgmill.run_cron_now('nope')`.execute(db.handle.db)).rejects.toThrow(
      'unknown crontab line id "nope" (known: hourly, yearly-report)',
    );
  });

  it(
    "from the CLI: `pgmill cron run ID`, and a clear error for an unknown id",
    async () => {
      const result = expectJson<{ cron: string; job_id: string }>(await runCli(["cron", "run", "yearly-report", "--json"], { databaseUrl: db.url }));
      expect(result.cron).toBe("yearly-report");
      const run = await waitFor("the handler to run", byId(String(result.job_id)));
      expect(run.job.cron?.manual).toBe(true);

      const unknown = await runCli(["cron", "run", "nope"], { databaseUrl: db.url });
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toContain('unknown crontab line id "nope" (known: hourly, yearly-report)');
    },
    SLOW_CLI_TIMEOUT,
  );

  it("scheduled ticks say they were not started by hand", async () => {
    // The crontab's ticks go through graphile-worker's cron, which sets no `manual`.
    const { splitCronMetadata } = await import("../../src/engine/cron-adapter.js");
    expect(splitCronMetadata({ _cron: { ts: "2026-01-01T00:00:00.000Z", backfilled: true } }).cron).toEqual({
      ts: "2026-01-01T00:00:00.000Z",
      backfilled: true,
      manual: false,
    });
  });
});
