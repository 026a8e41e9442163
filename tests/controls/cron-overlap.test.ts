import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { JobInfo } from "../../src/index.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { serveTestDaemon, type ServedTestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

// `?overlap=skip`: a tick is dropped while the line's previous run is queued or running.
const started: { line: string; job: JobInfo }[] = [];
const gates = new Map<string, () => void>();
const held = (line: string) => new Promise<void>((resolve) => gates.set(line, resolve));
const tasks = taskRegistry(
  defineTask({
    name: "slow",
    payload: z.object({ line: z.string() }),
    handler: async ({ line }, { job }) => {
      started.push({ line, job });
      // The @every line's runs are all slow; the minute line's ticks are quick and only its run by hand is held.
      if (line === "e" || job.cron?.manual) await held(line);
    },
  }),
);
const startsOf = (line: string) => started.filter((s) => s.line === line);

async function metric(daemon: ServedTestDaemon, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${daemon.baseUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

const skips = (line: string) => `pgmill_cron_overlap_skips_total{identifier="${line}"}`;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

describe("?overlap=skip on an @every line", () => {
  it("skips ticks while the previous run is running, counts them, and runs again once it finished", async () => {
    const crontab = `@every 1s slow ?id=slow-every&overlap=skip {line: "e"}\n@every 1h slow ?id=allowed {line: "a"}\n`;
    const daemon = await serveTestDaemon(db, tasks, { crontab });
    // Pre-initialised: the series exists before the first skip; lines that allow overlap have none.
    expect(await metric(daemon, skips("slow-every"))).toBe(0);
    expect(await metric(daemon, skips("allowed"))).toBeUndefined();

    await waitFor("the first run to start", () => startsOf("e").length === 1);
    await waitFor("three skipped ticks", async () => ((await metric(daemon, skips("slow-every"))) ?? 0) >= 3, 20_000);
    expect(startsOf("e")).toHaveLength(1);
    expect(daemon.logs.lines.some((l) => String(l.msg).startsWith("crontab tick skipped") && l.identifier === "slow-every")).toBe(true);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs where key = 'pgmill-cron:slow-every'`.execute(
      db.handle.db,
    );
    expect(rows[0]!.n).toBe(1);

    gates.get("e")!();
    await waitFor("a new tick's run once the previous one finished", () => startsOf("e").length === 2, 20_000);
    gates.get("e")!();
  }, 60_000);
});

describe("?overlap=skip on a minute line, two daemons (slow: waits for a real minute boundary)", () => {
  it("the minute's tick is skipped while a run of the line is still running, and counted once over both daemons", async () => {
    const crontab = `* * * * * slow ?id=slow-minutely&overlap=skip {line: "m"}\n`;
    const daemons = await Promise.all([serveTestDaemon(db, tasks, { crontab }), serveTestDaemon(db, tasks, { crontab })]);
    // Start a run by hand (it shares the line's job key) well inside a minute, once no tick's job is left.
    await waitFor(
      "a quiet moment inside a minute",
      async () => {
        const second = Date.now() % 60_000;
        if (second < 3_000 || second > 40_000) return false;
        const { rows: keyed } = await sql<{ n: number }>`
          select count(*)::int as n from graphile_worker.jobs where key = 'pgmill-cron:slow-minutely'`.execute(db.handle.db);
        return keyed[0]!.n === 0;
      },
      75_000,
      200,
    );
    const { rows } = await sql<{ id: string }>`select pgmill.run_cron_now('slow-minutely') as id`.execute(db.handle.db);
    const manual = await waitFor("the manual run to start", () => startsOf("m").find((s) => s.job.id === String(rows[0]!.id)));
    expect(manual.job.key).toBe("pgmill-cron:slow-minutely");
    // A new job, not a tick's that a loaded machine let in first (run_cron_now would hand that one back).
    expect(manual.job.cron?.manual).toBe(true);
    const nextMinute = Math.ceil((manual.job.createdAt.getTime() + 1) / 60_000) * 60_000;

    const total = async () => (await Promise.all(daemons.map((d) => metric(d, skips("slow-minutely"))))).reduce((a, b) => (a ?? 0) + (b ?? 0), 0);
    await waitFor("the minute's tick to be skipped", async () => (await total()) === 1, 75_000, 500);
    const { rows: recorded } = await sql<{ tick: Date }>`select tick from pgmill.cron_overlap_skips where identifier = 'slow-minutely'`.execute(
      db.handle.db,
    );
    expect(recorded.map((r) => r.tick.getTime())).toEqual([nextMinute]);
    // A skipped tick is no run: status's last run of the line stays before it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { rows: line } = await sql<{ last_tick_at: Date | null }>`
      select last_tick_at from pgmill.cron_lines where identifier = 'slow-minutely'`.execute(db.handle.db);
    expect(line[0]!.last_tick_at?.getTime() ?? 0).toBeLessThan(nextMinute);
    expect(startsOf("m").filter((s) => Date.parse(s.job.cron!.ts) === nextMinute)).toEqual([]);
    gates.get("m")!();
  }, 180_000);
});
