import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { pauseTask, pausedTasks, resumeTask } from "../../src/controls/pause-queries.js";
import { jobsByTaskAndState } from "../../src/engine/job-reads.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { serveTestDaemon, startTestDaemon, type ServedTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// Pausing a task over two daemons: within a second no new attempt starts
// anywhere, running attempts finish, queued jobs wait unspent, and after
// resume they start within a second.

let releaseLong: (() => void) | null = null;
const tasks = taskRegistry(
  defineTask({ name: "work", payload: z.object({ n: z.number() }), handler: async () => undefined }),
  defineTask({
    name: "long",
    payload: z.object({}),
    handler: async () => {
      await new Promise<void>((resolve) => (releaseLong = resolve));
    },
  }),
  defineTask({ name: "other", payload: z.object({}), handler: async () => undefined }),
);

let db: TestDatabase;
let a: ServedTestDaemon;
let b: TestDaemon;
const pausedEvents: (readonly string[])[] = [];
/** Parks of `work` by each daemon, from its events. */
const parks = { a: 0, b: 0 };

beforeAll(async () => {
  db = await createTestDatabase();
  a = await serveTestDaemon(db, tasks);
  b = await startTestDaemon(db, tasks);
  a.daemon.events.on("tasks:paused", (tasks) => pausedEvents.push(tasks));
  a.daemon.events.on("job:parked", (task) => void (task === "work" && parks.a++));
  b.daemon.events.on("job:parked", (task) => void (task === "work" && parks.b++));
});

async function metric(series: string): Promise<number | null> {
  const text = await (await fetch(`${a.baseUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : null;
}

async function startedAfter(task: string, at: number) {
  const rows = await db.handle.db.selectFrom("pgmill.job_runs").select(["job_id", "started_at"]).where("task", "=", task).execute();
  return rows.filter((r) => new Date(r.started_at).getTime() > at);
}

describe("pause_task and resume_task over two daemons", () => {
  it("starts no new attempt within a second of the pause, lets the running one finish, holds queued jobs unspent, and resumes within a second", async () => {
    const long = await addJobWithSql(db.handle.db, "long", {});
    await waitFor("the long attempt to be running", () => releaseLong);
    // Queued for later: held by the pause itself, at the run_at it had.
    const later = new Date(Date.now() + 1500);
    const scheduled = await addJobWithSql(db.handle.db, "work", { n: -1 }, { runAt: later.toISOString() });

    // Jobs keep arriving before, during and after the pause, as in production.
    const added: string[] = [];
    let adding = true;
    const feeder = (async () => {
      for (let n = 0; adding; n++) {
        added.push(await addJobWithSql(db.handle.db, "work", { n }, { maxAttempts: 1 }));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    expect(await pauseTask(db.handle.db, "long")).toBe(true);
    expect(await pauseTask(db.handle.db, "work")).toBe(true);
    const pausedAt = Date.now();
    expect(await pauseTask(db.handle.db, "work")).toBe(false);
    await new Promise((r) => setTimeout(r, 2500));
    adding = false;
    await feeder;

    // No attempt of a paused task started later than a second after the pause, on either daemon.
    expect(await startedAfter("work", pausedAt + 1000)).toEqual([]);
    // Other tasks keep flowing.
    const other = await addJobWithSql(db.handle.db, "other", {});
    await waitFor("another task to run", async () => (await runsOf(db.handle.db, other)).length === 1);
    // The running attempt finishes and is recorded, though its task is paused.
    releaseLong!();
    await waitFor("the long attempt to finish", async () => (await runsOf(db.handle.db, long)).length === 1);
    expect((await runsOf(db.handle.db, long))[0]!.status).toBe("succeeded");

    // Everything not run is held at infinity with no attempt spent, and says so.
    const ran = new Set((await db.handle.db.selectFrom("pgmill.job_runs").select("job_id").where("task", "=", "work").execute()).map((r) => r.job_id));
    const waiting = [scheduled, ...added].filter((id) => !ran.has(id));
    expect(waiting.length).toBeGreaterThan(20);
    await waitFor("every waiting job to be held", async () => {
      const held = await db.handle.db.selectFrom("pgmill.held_jobs").select("job_id").where("task", "=", "work").execute();
      return held.length === waiting.length;
    });
    for (const id of waiting) {
      const job = (await jobInEngine(db.handle.db, id))!;
      expect(job).toMatchObject({ attempts: 0, locked_at: null });
      expect(job.run_at).toBe(Infinity);
    }
    const heldRow = await db.handle.db.selectFrom("pgmill.held_jobs").select("run_at").where("job_id", "=", scheduled).executeTakeFirstOrThrow();
    expect(new Date(heldRow.run_at).getTime()).toBe(later.getTime());
    const states = await jobsByTaskAndState(db.handle.db, Object.keys(tasks));
    expect(states).toContainEqual({ task: "work", state: "held", jobs: String(waiting.length) });
    expect(await pausedTasks(db.handle.db)).toEqual([
      expect.objectContaining({ task: "long", held_jobs: 0 }),
      expect.objectContaining({ task: "work", held_jobs: waiting.length }),
    ]);
    expect(await metric('pgmill_task_paused{task="work"}')).toBe(1);
    expect(await metric('pgmill_task_paused{task="other"}')).toBe(0);
    // Series exist at zero for every task and reason before anything is parked.
    expect(await metric('pgmill_jobs_parked_total{task="other",reason="rate_limit"}')).toBe(0);
    expect(pausedEvents.at(-1)).toEqual(expect.arrayContaining(["long", "work"]));

    // Resume: every waiting job starts within a second (the scheduled one at its own time if later).
    expect(await resumeTask(db.handle.db, "work")).toBe(true);
    const resumedAt = Date.now();
    expect(await resumeTask(db.handle.db, "work")).toBe(false);
    await waitFor("every waiting job to run", async () => {
      const rows = await db.handle.db.selectFrom("pgmill.job_runs").select("job_id").where("job_id", "in", waiting).execute();
      return rows.length === waiting.length;
    }, 20_000);
    const runs = await db.handle.db.selectFrom("pgmill.job_runs").selectAll().where("job_id", "in", waiting).execute();
    for (const run of runs) {
      expect(run).toMatchObject({ status: "succeeded", attempt: 1 });
      const due = Math.max(resumedAt, run.job_id === scheduled ? later.getTime() : 0);
      expect(new Date(run.started_at).getTime() - due).toBeLessThan(1000);
    }
    expect(await db.handle.db.selectFrom("pgmill.held_jobs").selectAll().execute()).toEqual([]);
    expect(await db.handle.db.selectFrom("pgmill.job_reschedules").selectAll().execute()).toEqual([]);
    expect(await metric('pgmill_jobs_parked_total{task="work",reason="paused"}')).toBe(parks.a);
    await waitFor("the gauge to drop", async () => (await metric('pgmill_task_paused{task="work"}')) === 0);
    await resumeTask(db.handle.db, "long");
  });

  it("holds a job added while paused once a daemon fetches it, and counts the park", async () => {
    await pauseTask(db.handle.db, "work");
    await waitFor("both daemons to see the pause", () => a.daemon.pausedTasks.has("work") && b.daemon.pausedTasks.has("work"));
    const before = { ...parks };
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) ids.push(await addJobWithSql(db.handle.db, "work", { n }));
    await waitFor("the jobs to be held", async () => {
      const held = await db.handle.db.selectFrom("pgmill.held_jobs").select("job_id").where("job_id", "in", ids).execute();
      return held.length === ids.length;
    });
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pgmill.job_runs where job_id = any(${ids}::bigint[])`.execute(db.handle.db);
    expect(rows[0]!.n).toBe(0);
    // Each was fetched once and parked once, by one daemon or the other; the metric counts this daemon's.
    expect(parks.a - before.a + parks.b - before.b).toBe(ids.length);
    expect(await metric('pgmill_jobs_parked_total{task="work",reason="paused"}')).toBe(parks.a);
    await resumeTask(db.handle.db, "work");
    await waitFor("the jobs to run", async () => {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pgmill.job_runs where job_id = any(${ids}::bigint[])`.execute(db.handle.db);
      return rows[0]!.n === ids.length;
    });
  });
});
