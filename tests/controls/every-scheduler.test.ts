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
const tasks = taskRegistry(
  defineTask({ name: "beat", payload: z.object({ n: z.number() }), handler: async (_p, { job }) => void jobs.push(job) }),
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
