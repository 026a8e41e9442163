import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { limitedTaskStatus } from "../../src/controls/task-limit-queries.js";
import type { Db } from "../../src/db/database.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { addJobsAtOnce } from "../support/sql-jobs.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";
import { maxOverlap } from "../support/attempt-timeline.js";

// Cluster-wide limits with two daemons on one database: what history says
// about the attempts that ran (pgmill.job_runs), not what the daemons say.

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const tasks = taskRegistry(
  defineTask({ name: "three-at-once", payload: z.object({}), concurrency: 3, handler: () => sleep(300) }),
  defineTask({ name: "four-a-second", payload: z.object({}), rateLimit: { max: 4, per: "1s" }, handler: () => sleep(10) }),
  defineTask({ name: "both", payload: z.object({}), concurrency: 2, rateLimit: { max: 3, per: "1s" }, handler: () => sleep(200) }),
  defineTask({ name: "unlimited", payload: z.object({}), handler: () => sleep(5) }),
);

let db: TestDatabase;
let daemons: TestDaemon[];
const parked: string[] = [];
/** Who parked what: `${daemon index}:${task}:${reason}`. */
const parkedBy: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  daemons = [await startTestDaemon(db, tasks), await startTestDaemon(db, tasks)];
  for (const [i, { daemon }] of daemons.entries()) {
    daemon.events.on("job:parked", (task, reason) => {
      parked.push(`${task}:${reason}`);
      parkedBy.push(`${i}:${task}:${reason}`);
    });
  }
});

function runsOfTask(task: string) {
  return db.handle.db.selectFrom("pgmill.job_runs").selectAll().where("task", "=", task).orderBy("started_at").execute();
}


async function allSucceeded(database: Db, task: string, count: number) {
  const runs = await database.selectFrom("pgmill.job_runs").select("id").where("task", "=", task).where("status", "=", "succeeded").execute();
  return runs.length === count;
}

describe("concurrency: N", () => {
  it("never runs more than N at once over two daemons, reaches N, spends no attempt on waiting, and other tasks flow meanwhile", async () => {
    const limited = await addJobsAtOnce(db.handle.db, "three-at-once", 30);
    const others = await addJobsAtOnce(db.handle.db, "unlimited", 20);
    await waitFor("the limited jobs to finish", () => allSucceeded(db.handle.db, "three-at-once", 30), 60_000, 100);

    const runs = await runsOfTask("three-at-once");
    expect(runs).toHaveLength(30);
    expect(new Set(runs.map((r) => String(r.job_id)))).toEqual(new Set(limited));
    // Waiting spent no attempt: one history row per job, each its first attempt.
    expect(runs.every((r) => r.status === "succeeded" && r.attempt === 1)).toBe(true);
    expect(maxOverlap(runs)).toBe(3);
    // Both daemons took part (ran or were refused some): the limit held across them. Which one runs the jobs a
    // release makes due is a race (the releasing daemon nudges itself), so one may run them all.
    for (const [i, { daemon }] of daemons.entries()) {
      const ran = runs.some((r) => r.daemon_id === daemon.id);
      expect(ran || parkedBy.includes(`${i}:three-at-once:concurrency`)).toBe(true);
    }
    expect(parked.filter((p) => p === "three-at-once:concurrency").length).toBeGreaterThan(0);

    // The unlimited task did not wait for the limited backlog.
    const free = await runsOfTask("unlimited");
    expect(free).toHaveLength(others.length);
    const lastLimitedStart = Math.max(...runs.map((r) => r.started_at.getTime()));
    expect(Math.max(...free.map((r) => r.finished_at.getTime()))).toBeLessThan(lastLimitedStart);

    // Nothing held once it is over.
    const status = await limitedTaskStatus(db.handle.db, Object.values(tasks));
    expect(status.find((s) => s.task === "three-at-once")).toMatchObject({ concurrency: 3, running: 0 });
  });
});

describe("rateLimit: { max, per }", () => {
  it("never starts more than max per window over two daemons, reaches max, and spends no attempt on waiting", async () => {
    const ids = await addJobsAtOnce(db.handle.db, "four-a-second", 16);
    await waitFor("the rate-limited jobs to finish", () => allSucceeded(db.handle.db, "four-a-second", 16), 60_000, 100);
    const runs = await runsOfTask("four-a-second");
    expect(runs).toHaveLength(ids.length);
    expect(runs.every((r) => r.status === "succeeded" && r.attempt === 1)).toBe(true);
    const perWindow = new Map<number, number>();
    for (const r of runs) {
      const window = Math.floor(r.started_at.getTime() / 1000);
      perWindow.set(window, (perWindow.get(window) ?? 0) + 1);
    }
    expect(Math.max(...perWindow.values())).toBe(4);
    expect(perWindow.size).toBeGreaterThanOrEqual(4);
    // Both daemons took part (ran or were refused some): the windows are counted over both. Which one runs the
    // jobs due at a window's start is a race (the one that parked them nudges itself then).
    for (const [i, { daemon }] of daemons.entries()) {
      const ran = runs.some((r) => r.daemon_id === daemon.id);
      expect(ran || parkedBy.includes(`${i}:four-a-second:rate_limit`)).toBe(true);
    }
    expect(parked.filter((p) => p === "four-a-second:rate_limit").length).toBeGreaterThan(0);
  });
});

describe("both limits on one task", () => {
  it("holds each of them", async () => {
    await addJobsAtOnce(db.handle.db, "both", 12);
    await waitFor("the jobs to finish", () => allSucceeded(db.handle.db, "both", 12), 60_000, 100);
    const runs = await runsOfTask("both");
    expect(runs.every((r) => r.attempt === 1)).toBe(true);
    expect(maxOverlap(runs)).toBeLessThanOrEqual(2);
    const perWindow = new Map<number, number>();
    for (const r of runs) perWindow.set(Math.floor(r.started_at.getTime() / 1000), (perWindow.get(Math.floor(r.started_at.getTime() / 1000)) ?? 0) + 1);
    expect(Math.max(...perWindow.values())).toBe(3);
  });
});
