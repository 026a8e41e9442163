import { writeFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, taskRegistry, type JobInfo } from "../../src/index.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { addJobWithSql, runsOf } from "../support/sql-jobs.js";
import { waitFor } from "../support/wait-for.js";

const ticks: { payload: unknown; cron: JobInfo["cron"] }[] = [];
let releaseBlocker: () => void = () => undefined;
let blockerStarted = false;

const tasks = taskRegistry(
  defineTask({
    name: "tick",
    payload: z.object({ label: z.string() }),
    handler: async (payload, { job }) => void ticks.push({ payload, cron: job.cron }),
  }),
  defineTask({
    name: "blocker",
    payload: z.object({}),
    handler: async () => {
      blockerStarted = true;
      await new Promise<void>((resolve) => (releaseBlocker = resolve));
    },
  }),
);

let db: TestDatabase;
let running: TestDaemon;

beforeAll(async () => {
  db = await createTestDatabase();
  running = await startTestDaemon(db, tasks, { crontab: `* * * * * tick ?id=every-minute {label: "first"}\n` });
});

describe("crontab in the daemon", () => {
  it("enqueues on schedule, hands the handler its payload without _cron, and the fire time as job.cron", async () => {
    const tick = await waitFor("the every-minute line to fire", () => ticks.find((t) => (t.payload as { label: string }).label === "first"), 70_000, 200);
    expect(tick.payload).toEqual({ label: "first" });
    expect(tick.cron).toMatchObject({ backfilled: false });
    expect(new Date(tick.cron!.ts).getUTCSeconds()).toBe(0);
  }, 80_000);

  it("reloads a changed file without touching running jobs, and rejects an invalid one keeping the old schedule", async () => {
    const blockerId = await addJobWithSql(db.handle.db, "blocker", {});
    await waitFor("the blocker to start", () => blockerStarted);

    await writeFile(running.crontabPath, `*/5 * * * * tick ?id=five-minutely {label: "second"}\n`);
    await waitFor("the watcher to reload", () => running.daemon.crontab.entries.some((e) => e.identifier === "five-minutely"));
    expect(running.daemon.crontab.entries.map((e) => e.identifier)).toEqual(["five-minutely"]);

    await writeFile(running.crontabPath, `61 * * * * tick {label: "bad"}\nnot a line\n`);
    const rejected = await waitFor("the invalid file to be rejected", () =>
      running.logs.lines.find((l) => l.msg === "crontab rejected; the previous schedule keeps running"),
    );
    expect(JSON.stringify(rejected)).toMatch(/crontab:1: .*61/);
    expect(JSON.stringify(rejected)).toMatch(/crontab:2: /);
    expect(running.daemon.crontab.entries.map((e) => e.identifier)).toEqual(["five-minutely"]);

    // SIGHUP's path: an unchanged file is not a new schedule; a fixed one is.
    await writeFile(running.crontabPath, `0 * * * * tick ?id=hourly {label: "third"}\n`);
    await waitFor("the fixed file to load", () => running.daemon.crontab.entries.some((e) => e.identifier === "hourly"));
    expect(await running.daemon.reloadCrontab()).toBe(false);

    // The job that was running through all of this finishes normally.
    expect(running.daemon.attempts.runningCount).toBe(1);
    releaseBlocker();
    const [run] = await waitFor("the blocker's history row", async () => {
      const runs = await runsOf(db.handle.db, blockerId);
      return runs.length ? runs : null;
    });
    expect(run!.status).toBe("succeeded");
  });
});
