import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { CronPauses } from "../../src/controls/cron-pauses.js";
import { CrontabSchedule } from "../../src/crontab/crontab-schedule.js";
import { digestOf } from "../../src/crontab/schedule-matcher.js";
import type { JobInfo } from "../../src/index.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { expectJson, expectSuccess, parseTable, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { serveTestDaemon, startTestDaemon, type ServedTestDaemon } from "../support/test-daemon.js";
import { captureLogs } from "../support/log-capture.js";
import { waitFor } from "../support/wait-for.js";

const MINUTE = 60_000;

// pgmill.pause_cron / resume_cron and `pgmill pause|resume cron ID`.
const fired: { line: string; job: JobInfo }[] = [];
const tasks = taskRegistry(
  defineTask({
    name: "beat",
    payload: z.object({ line: z.string() }),
    handler: async ({ line }, { job }) => void fired.push({ line, job }),
  }),
);
const ticksOf = (line: string) => fired.filter((f) => f.line === line && !f.job.cron?.manual).map((f) => Date.parse(f.job.cron!.ts));

async function metric(daemon: ServedTestDaemon, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${daemon.baseUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

describe("pause and resume an @every line", () => {
  it(
    "drops its ticks while paused (through a crontab reload) and does not fill them in after resume",
    async () => {
      const crontab = `@every 1s beat ?id=paused-line {line: "p"}\n@every 1s beat ?id=control {line: "c"}\n`;
      const daemon = await serveTestDaemon(db, tasks, { crontab });
      await waitFor("the line to tick", () => ticksOf("p").length >= 2);
      expect(await metric(daemon, 'pgmill_cron_paused{identifier="paused-line"}')).toBe(0);

      const paused = expectJson<{ paused_since: string }>(
        await runCli(["pause", "cron", "paused-line", "--json"], { databaseUrl: db.url }),
      );
      const pausedAt = Date.parse(paused.paused_since);
      await waitFor("the pause in metrics", async () => (await metric(daemon, 'pgmill_cron_paused{identifier="paused-line"}')) === 1);
      const [json, text] = await Promise.all([
        runCli(["status", "--json"], { databaseUrl: db.url }),
        runCli(["status"], { databaseUrl: db.url }),
      ]);
      const status = expectJson<{ cronLines: { id: string; paused_since: string | null }[] }>(json);
      const section = expectSuccess(text).split("\n\n").find((block) => block.startsWith("Crontab lines"))!;
      const table = parseTable(section.split("\n").slice(1).join("\n"));
      expect(table.header).toEqual(["id", "schedule", "timezone", "task", "overlap", "paused", "last_run", "next_run", "last_run_by_hand"]);
      expect(table.rows.find((r) => r.id === "paused-line")).toMatchObject({ schedule: "@every 1s", paused: `since ${paused.paused_since}` });
      expect(table.rows.find((r) => r.id === "control")).toMatchObject({ paused: "no" });
      expect(status.cronLines.find((l) => l.id === "paused-line")?.paused_since).toBe(paused.paused_since);
      expect(status.cronLines.find((l) => l.id === "control")?.paused_since).toBeNull();

      // A reload (the same lines, reordered) keeps the pause.
      await writeFile(daemon.crontabPath, `# reordered\n@every 1s beat ?id=control {line: "c"}\n@every 1s beat ?id=paused-line {line: "p"}\n`);
      await waitFor("the reload", () => daemon.logs.lines.some((l) => l.msg === "crontab reloaded"));
      const reloadedAt = Date.now();
      await waitFor("3 control ticks after the reload", () => ticksOf("c").filter((t) => t > reloadedAt).length >= 3, 20_000);

      const resumed = expectJson<{ resumed: boolean }>(await runCli(["resume", "cron", "paused-line", "--json"], { databaseUrl: db.url }));
      expect(resumed.resumed).toBe(true);
      const { rows } = await sql<{ resumed_at: Date }>`select resumed_at from pgmill.cron_pauses where identifier = 'paused-line'`.execute(
        db.handle.db,
      );
      const resumedAt = rows[0]!.resumed_at.getTime();
      await waitFor("ticks again after the resume", () => ticksOf("p").some((t) => t > resumedAt), 20_000);
      // Nothing for the paused window: neither while paused nor filled in later.
      expect(ticksOf("p").filter((t) => t >= pausedAt && t < resumedAt)).toEqual([]);
      expect(ticksOf("c").filter((t) => t >= pausedAt && t < resumedAt).length).toBeGreaterThanOrEqual(3);
      // Daemons re-read pauses every second; @every lines check them in SQL, so the gauge may trail the ticks.
      await waitFor("the resume in metrics", async () => (await metric(daemon, 'pgmill_cron_paused{identifier="paused-line"}')) === 0);
    },
    SLOW_CLI_TIMEOUT,
  );

  it("refuses an unknown id, naming it and the known ones; resuming a running line says it was not paused", async () => {
    await expect(sql`select pgmill.pause_cron('nope')`.execute(db.handle.db)).rejects.toThrow(
      'unknown crontab line id "nope" (known: control, paused-line)',
    );
    await expect(sql`select pgmill.resume_cron('nope')`.execute(db.handle.db)).rejects.toThrow('unknown crontab line id "nope"');
    const { rows } = await sql<{ resumed: boolean }>`select pgmill.resume_cron('control') as resumed`.execute(db.handle.db);
    expect(rows[0]!.resumed).toBe(false);
    // Pausing twice keeps the first pause.
    const first = await sql<{ since: Date }>`select pgmill.pause_cron('control') as since`.execute(db.handle.db);
    const second = await sql<{ since: Date }>`select pgmill.pause_cron('control') as since`.execute(db.handle.db);
    expect(second.rows[0]!.since).toEqual(first.rows[0]!.since);
    await sql`select pgmill.resume_cron('control')`.execute(db.handle.db);
  });
});

describe("pause and resume a minute line with backfill (slow: waits for a real minute boundary)", () => {
  it(
    "a daemon starting after the resume does not backfill the minutes the pause dropped",
    async () => {
      const crontab = `* * * * * beat ?id=paused-minutely&fill=1h {line: "pm"}\n* * * * * beat ?id=control-minutely&fill=1h {line: "cm"}\n`;
      // A first daemon registers both lines with the engine's cron, then the line is paused and the daemon goes away.
      const first = await startTestDaemon(db, tasks, { crontab });
      await sql`select pgmill.pause_cron('paused-minutely')`.execute(db.handle.db);
      await first.daemon.shutdown();
      const missedMinute = Math.ceil(Date.now() / 60_000) * 60_000;
      await new Promise((resolve) => setTimeout(resolve, missedMinute - Date.now() + 1_500));
      await sql`select pgmill.resume_cron('paused-minutely')`.execute(db.handle.db);

      // The next daemon backfills the unpaused line's missed minute, not the paused one's.
      await startTestDaemon(db, tasks, { crontab });
      const control = await waitFor("the control line's missed minute to be backfilled", () =>
        fired.find((f) => f.line === "cm" && Date.parse(f.job.cron!.ts) === missedMinute),
      );
      expect(control.job.cron!.backfilled).toBe(true);
      // Both lines' backfill of a minute is one statement: had the paused line's been enqueued, it would have run too.
      await waitFor("the jobs queue to drain", async () => {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'beat'`.execute(
          db.handle.db,
        );
        return rows[0]!.n === 0;
      });
      expect(fired.filter((f) => f.line === "pm" && Date.parse(f.job.cron!.ts) === missedMinute)).toEqual([]);
    },
    120_000,
  );
});

it("the CLI's pause and resume commands have help", async () => {
  expectSuccess(await runCli(["pause", "cron", "--help"]));
  expectSuccess(await runCli(["resume", "cron", "--help"]));
}, SLOW_CLI_TIMEOUT);

describe("the matcher graphile-worker's cron calls each minute", () => {
  it("refuses a paused line's ticks, from the pause on and inside an ended pause window, and takes the others", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-gate-"));
    const file = path.join(dir, "crontab");
    await writeFile(file, '* * * * * beat ?id=gated {line: "g"}\n* * * * * beat ?id=open {line: "o"}\n');
    const { logger } = captureLogs();
    const pauses = new CronPauses(db.handle.db, logger);
    const schedule = new CrontabSchedule(file, tasks, logger, undefined, (id, t) => pauses.allows(id, t));
    await schedule.load();
    const match = (id: string, at: number) => schedule.items.find((i) => i.identifier === id)!.match(digestOf(new Date(at)));

    await sql`insert into pgmill.cron_lines (identifier, task, schedule, published_by) values ('gated', 'beat', '* * * * *', 'test')
              on conflict do nothing`.execute(db.handle.db);
    const { rows } = await sql<{ since: Date }>`select pgmill.pause_cron('gated') as since`.execute(db.handle.db);
    await pauses.refresh();
    const nextMinute = Math.ceil((rows[0]!.since.getTime() + 1) / MINUTE) * MINUTE;
    expect(match("gated", nextMinute)).toBe(false);
    expect(match("gated", nextMinute - 2 * MINUTE)).toBe(true);
    expect(match("open", nextMinute)).toBe(true);
    await sql`select pgmill.resume_cron('gated')`.execute(db.handle.db);

    // An ended window an hour ago: its minute stays refused, as a backfill would ask for it.
    const hourAgo = Math.floor(Date.now() / MINUTE) * MINUTE - 60 * MINUTE;
    await sql`insert into pgmill.cron_pauses (identifier, paused_at, resumed_at)
              values ('gated', ${new Date(hourAgo - 30_000)}, ${new Date(hourAgo + 30_000)})`.execute(db.handle.db);
    await pauses.refresh();
    expect(match("gated", hourAgo)).toBe(false);
    expect(match("gated", hourAgo + MINUTE)).toBe(true);
    expect(match("gated", nextMinute + MINUTE)).toBe(true);
  });
});
