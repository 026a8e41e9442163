import { writeFile } from "node:fs/promises";
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { JobInfo } from "../../src/index.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

// `@every` lines: pgmill's own scheduler, exactly once per tick over daemons.
const jobs: JobInfo[] = [];
const payloads: { line: string; n: number; at: number }[] = [];
const tasks = taskRegistry(
  defineTask({ name: "beat", payload: z.object({ n: z.number() }), handler: async (_p, { job }) => void jobs.push(job) }),
  defineTask({
    name: "echo",
    payload: z.object({ line: z.string(), n: z.number() }),
    handler: async (p, { job }) => void payloads.push({ ...p, at: Date.parse(job.cron!.ts) }),
  }),
);
const PERIOD_MS = 2_000;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

describe("@every with two daemons", () => {
  it("enqueues each tick exactly once, within a second of it (about 30 s of ticks)", async () => {
    const crontab = `@every 2s beat ?id=two-seconds {n: 1}\n`;
    await Promise.all([startTestDaemon(db, tasks, { crontab }), startTestDaemon(db, tasks, { crontab })]);
    const started = Date.now();
    await waitFor("15 ticks", () => jobs.length >= 15, 60_000);
    const ticks = jobs.map((job) => Date.parse(job.cron!.ts)).sort((a, b) => a - b);
    // Every tick between the first and the last, once: none twice, none missing.
    const expected = Array.from({ length: (ticks.at(-1)! - ticks[0]!) / PERIOD_MS + 1 }, (_, i) => ticks[0]! + i * PERIOD_MS);
    expect(ticks).toEqual(expected);
    expect(ticks[0]! - started).toBeLessThanOrEqual(PERIOD_MS);
    for (const job of jobs) {
      const tick = Date.parse(job.cron!.ts);
      expect(tick % PERIOD_MS).toBe(0);
      expect(job.cron).toMatchObject({ backfilled: false, manual: false });
      // created_at comes from the database clock, the tick from Node's: the same machine here.
      expect(job.createdAt.getTime() - tick, `job ${job.id} for ${job.cron!.ts}`).toBeGreaterThanOrEqual(-50);
      expect(job.createdAt.getTime() - tick, `job ${job.id} for ${job.cron!.ts}`).toBeLessThan(1_000);
    }
    const { rows } = await sql<{ last_tick: Date }>`select last_tick from pgmill.cron_every_ticks where identifier = 'two-seconds'`.execute(
      db.handle.db,
    );
    expect(rows[0]!.last_tick.getTime()).toBeGreaterThanOrEqual(ticks.at(-1)!);
  }, 90_000);
});

describe("@every and crontab reloads", () => {
  it("takes a changed payload at the next tick and stops a removed line", async () => {
    const daemon = await startTestDaemon(db, tasks, {
      crontab: `@every 1s echo ?id=changing {line: "x", n: 1}\n@every 1s echo ?id=leaving {line: "y", n: 1}\n`,
    });
    await waitFor("both lines to tick", () => payloads.some((p) => p.line === "x") && payloads.some((p) => p.line === "y"));
    await writeFile(daemon.crontabPath, `@every 1s echo ?id=changing {line: "x", n: 2}\n`);
    await waitFor("the reload", () => daemon.logs.lines.some((l) => l.msg === "crontab reloaded"));
    const reloadedAt = Date.now();
    await waitFor("the new payload", () => payloads.filter((p) => p.line === "x" && p.n === 2).length >= 3);
    // A removed line's last tick may have been enqueued as the reload landed; none after that.
    expect(payloads.filter((p) => p.line === "y" && p.at > reloadedAt + 1_000)).toEqual([]);
  }, 60_000);
});
