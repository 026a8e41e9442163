import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { pauseTask, resumeTask } from "../../src/controls/pause-queries.js";
import { PARK_REASONS } from "../../src/controls/task-gate.js";
import { RESCHEDULE_REASONS } from "../../src/db/schema.js";
import { applyReschedules, requestPark } from "../../src/engine/job-reschedules.js";
import { sweepDeadLetters } from "../../src/dead-letters/sweep.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { builtInTasks } from "../../src/tasks/index.js";
import { spawnDaemon, type DaemonProcess } from "../support/daemon-process.js";
import { addJobWithSql, deadLetterOf, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// The parking mechanism (src/engine/job-reschedules.ts, src/controls/parking.ts):
// a request written while a daemon holds the job, applied once the engine has
// released it, never lost, never applied to a job that is gone.

let releaseHold: (() => void) | null = null;
let holdOutcome: "succeed" | "fail" = "succeed";
const ran: string[] = [];

const tasks = taskRegistry(
  defineTask({
    name: "hold",
    payload: z.object({}),
    handler: async (_payload, { job }) => {
      ran.push(job.id);
      await new Promise<void>((resolve) => (releaseHold = resolve));
      if (holdOutcome === "fail") throw new Error("held, then failed");
    },
  }),
  defineTask({ name: "quick", payload: z.object({}), handler: async (_payload, { job }) => void ran.push(job.id) }),
);

let db: TestDatabase;
let daemon: TestDaemon;
const parkedEvents: [string, string][] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  // A long fail batch: the engine's failure of a parked job lands a second after the park, so the test sees the window.
  daemon = await startTestDaemon(db, tasks, { settings: { PGMILL_BATCH_DELAY_MS: "1000" } });
  daemon.daemon.events.on("job:parked", (task, reason) => parkedEvents.push([task, reason]));
});

function requestOf(jobId: string) {
  return db.handle.db.selectFrom("pgmill.job_reschedules").selectAll().where("job_id", "=", jobId).executeTakeFirst();
}

describe("the race between the engine's failure and the reschedule", () => {
  it("keeps a request written while the job is locked, and applies it (attempts restored) once the engine released it", async () => {
    await pauseTask(db.handle.db, "quick");
    await waitFor("the daemon to see the pause", () => daemon.daemon.pausedTasks.has("quick"));
    // Added while paused: fetched, then parked by the daemon that fetched it. One attempt only, so a spent one would show.
    const id = await addJobWithSql(db.handle.db, "quick", {}, { maxAttempts: 1 });

    // The request is there while the engine still holds the job (its failure is batched for a second)...
    const pending = await waitFor("the park request", () => requestOf(id), 10_000, 10);
    expect(pending).toMatchObject({ reason: "paused", attempts: 0 });
    expect(pending.run_at).toBe(Infinity);
    const locked = await jobInEngine(db.handle.db, id);
    expect(locked?.locked_at).not.toBeNull();
    // ...and applying now changes nothing: reschedule_jobs skips locked jobs, the request stays.
    expect(await applyReschedules(db.handle.db)).toEqual([]);
    expect(await requestOf(id)).toBeDefined();

    // Once the engine's failure lands, the daemon applies it: held, attempt not spent.
    await waitFor("the request to be applied", async () => !(await requestOf(id)), 10_000);
    const job = await jobInEngine(db.handle.db, id);
    expect(job).toMatchObject({ attempts: 0, locked_at: null });
    expect(job!.run_at).toBe(Infinity);
    expect(job!.last_error).toMatch(/parked: paused/);
    const held = await db.handle.db.selectFrom("pgmill.held_jobs").selectAll().where("job_id", "=", id).executeTakeFirst();
    expect(held?.task).toBe("quick");
    expect(await runsOf(db.handle.db, id)).toEqual([]);
    expect(parkedEvents).toContainEqual(["quick", "paused"]);
    expect(ran).not.toContain(id);

    // The sweep must not take it for a spent job meanwhile, and resume runs it, once.
    await sweepDeadLetters(db.handle.db, "test");
    expect(await deadLetterOf(db.handle.db, id)).toBeUndefined();
    expect(await resumeTask(db.handle.db, "quick")).toBe(true);
    await waitFor("the resumed job to run", async () => (await runsOf(db.handle.db, id)).length === 1);
    expect((await runsOf(db.handle.db, id))[0]).toMatchObject({ status: "succeeded", attempt: 1 });
    expect(ran.filter((j) => j === id)).toHaveLength(1);
  });

  it("resumed while a parked job is still locked: the pending request takes the job's own run_at, and it runs", async () => {
    await pauseTask(db.handle.db, "quick");
    await waitFor("the daemon to see the pause", () => daemon.daemon.pausedTasks.has("quick"));
    const id = await addJobWithSql(db.handle.db, "quick", {}, { maxAttempts: 1 });
    const added = (await jobInEngine(db.handle.db, id))!.run_at as Date;
    await waitFor("the park request", () => requestOf(id), 10_000, 10);
    expect((await jobInEngine(db.handle.db, id))?.locked_at).not.toBeNull();
    // Within the engine's batched failure: the job is still locked.
    expect(await resumeTask(db.handle.db, "quick")).toBe(true);
    const request = await requestOf(id);
    // (Had the failure landed just before the resume, the request was applied and resume moved the job itself.)
    if (request) expect(request.run_at).toEqual(added);
    expect(await db.handle.db.selectFrom("pgmill.held_jobs").selectAll().where("job_id", "=", id).execute()).toEqual([]);
    await waitFor("the job to run once", async () => (await runsOf(db.handle.db, id)).length === 1, 10_000);
    expect((await runsOf(db.handle.db, id))[0]).toMatchObject({ status: "succeeded", attempt: 1 });
  });

  it("applies a request with a time (a limit's park) once the job is unlocked: run_at as asked, attempts restored", async () => {
    holdOutcome = "fail";
    const id = await addJobWithSql(db.handle.db, "hold", {}, { maxAttempts: 5 });
    await waitFor("the job to be running", () => ran.includes(id));
    const job = (await jobInEngine(db.handle.db, id))!;
    const until = new Date(Date.now() + 60_000);
    const written = await requestPark(db.handle.db, {
      jobId: id, task: "hold", heldBy: [job.locked_by!], until, runAt: job.run_at, attempts: 0, reason: "concurrency",
    });
    expect(written).toBe(true);
    // Locked: nothing applied, the request stays (the daemon's loop tries every half second meanwhile).
    await new Promise((r) => setTimeout(r, 1200));
    expect(await requestOf(id)).toBeDefined();
    releaseHold!();
    await waitFor("the request to be applied", async () => !(await requestOf(id)), 10_000);
    const after = (await jobInEngine(db.handle.db, id))!;
    expect(after.attempts).toBe(0);
    expect(Math.abs((after.run_at as Date).getTime() - until.getTime())).toBeLessThan(5);
    await sql`select graphile_worker.complete_jobs(array[${id}::bigint])`.execute(db.handle.db);
  });

  it("refuses a request for a job this daemon does not hold, and drops one whose job finished", async () => {
    holdOutcome = "succeed";
    const id = await addJobWithSql(db.handle.db, "hold", {});
    await waitFor("the job to be running", () => ran.includes(id));
    const job = (await jobInEngine(db.handle.db, id))!;
    const request = { jobId: id, task: "hold", runAt: job.run_at as Date, until: new Date(Date.now() + 60_000), attempts: 0, reason: "concurrency" as const };
    expect(await requestPark(db.handle.db, { ...request, heldBy: ["some-other-worker"] })).toBe(false);
    // Asked to hold it for a pause that is no longer there (a daemon's view is up to half a second old): due now, not held.
    expect(await requestPark(db.handle.db, { ...request, until: null, reason: "paused", heldBy: [job.locked_by!] })).toBe(true);
    const due = (await requestOf(id))!;
    expect(due.run_at).toBeInstanceOf(Date);
    expect(Math.abs((due.run_at as Date).getTime() - Date.now())).toBeLessThan(5000);
    expect(await db.handle.db.selectFrom("pgmill.held_jobs").selectAll().where("job_id", "=", id).execute()).toEqual([]);
    expect(await requestPark(db.handle.db, { ...request, heldBy: [job.locked_by!] })).toBe(true);
    // The job completes (its handler returns): the request has nothing to apply to and goes.
    releaseHold!();
    await waitFor("the request to be dropped", async () => !(await requestOf(id)), 10_000);
    expect(await jobInEngine(db.handle.db, id)).toBeUndefined();
    expect((await runsOf(db.handle.db, id)).map((r) => r.status)).toEqual(["succeeded"]);
  });
});

describe("without a daemon", () => {
  let bare: TestDatabase;
  beforeAll(async () => {
    bare = await createTestDatabase();
  });

  it("drops a request whose job is gone, and the sweep leaves a parked job that looks spent", async () => {
    await sql`insert into pgmill.job_reschedules (job_id, run_at, attempts, reason) values (987654321, now(), 0, 'rate_limit')`.execute(bare.handle.db);
    const id = await addJobWithSql(bare.handle.db, "quick", {}, { maxAttempts: 1 });
    // As the engine leaves a parked job on its last attempt: attempts used up, a request pending.
    await sql`select graphile_worker.reschedule_jobs(array[${id}::bigint], attempts => 1)`.execute(bare.handle.db);
    await sql`insert into pgmill.job_reschedules (job_id, run_at, attempts, reason) values (${id}::bigint, now() + interval '1 hour', 0, 'rate_limit')`.execute(bare.handle.db);
    expect((await sweepDeadLetters(bare.handle.db, "test")).moved).toBe(0);

    const applied = await applyReschedules(bare.handle.db);
    expect(applied).toEqual(expect.arrayContaining([{ jobId: "987654321", runAt: null }, { jobId: id, runAt: expect.any(Date) }]));
    const rest = await bare.handle.db.selectFrom("pgmill.job_reschedules").selectAll().execute();
    expect(rest).toEqual([]);
    expect((await jobInEngine(bare.handle.db, id))?.attempts).toBe(0);
    expect((await sweepDeadLetters(bare.handle.db, "test")).moved).toBe(0);
  });
});

describe("kill -9 of a daemon with a pending request", () => {
  const procs: DaemonProcess[] = [];
  afterAll(() => {
    for (const p of procs) p.child.kill("SIGKILL");
  });

  it("loses nothing: the survivor releases the job without a lost row or dead letter, applies the request, and the job runs after resume", async () => {
    const own = await createTestDatabase();
    await pauseTask(own.handle.db, "log-message");
    const victim = await spawnDaemon({
      DATABASE_URL: own.url,
      PGMILL_BATCH_DELAY_MS: "1000",
      PGMILL_HEARTBEAT_INTERVAL: "0.5",
      PGMILL_DEAD_AFTER: "2",
    });
    procs.push(victim);
    await victim.waitForLog("pgmill daemon running");
    // One attempt: a `lost` attempt would dead-letter it.
    const id = await addJobWithSql(own.handle.db, "log-message", { message: "after the pause" }, { maxAttempts: 1 });
    await waitFor("the park request", async () => (await own.handle.db.selectFrom("pgmill.job_reschedules").select("job_id").where("job_id", "=", id).executeTakeFirst()), 10_000, 10);
    const lockedBy = (await jobInEngine(own.handle.db, id))?.locked_by;
    victim.child.kill("SIGKILL");
    await victim.exited;
    // Killed within the engine's batched failure: the job was still locked by the victim.
    expect(lockedBy).not.toBeNull();

    const survivor = await startTestDaemon(own, builtInTasks, { settings: { PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "2" } });
    await waitFor("the victim to be reaped and the request applied", async () => {
      const request = await own.handle.db.selectFrom("pgmill.job_reschedules").select("job_id").where("job_id", "=", id).executeTakeFirst();
      const job = await jobInEngine(own.handle.db, id);
      return !request && job?.locked_at === null;
    }, 30_000, 100);
    const job = (await jobInEngine(own.handle.db, id))!;
    expect(job).toMatchObject({ attempts: 0 });
    expect(job.run_at).toBe(Infinity);
    expect(await runsOf(own.handle.db, id)).toEqual([]);
    expect(await deadLetterOf(own.handle.db, id)).toBeUndefined();

    await resumeTask(own.handle.db, "log-message");
    await waitFor("the job to run once resumed", async () => (await runsOf(own.handle.db, id)).length === 1, 10_000);
    expect((await runsOf(own.handle.db, id))[0]).toMatchObject({ status: "succeeded", attempt: 1, daemon_id: survivor.daemon.id });
  });
});

describe("one list of reasons", () => {
  it("the SQL check of pgmill.job_reschedules allows exactly RESCHEDULE_REASONS, of which the park reasons are all but retry", async () => {
    const { rows } = await sql<{ def: string }>`
      select pg_get_constraintdef(oid) as def from pg_constraint
       where conrelid = 'pgmill.job_reschedules'::regclass and contype = 'c' and pg_get_constraintdef(oid) like '%reason%'
    `.execute(db.handle.db);
    const allowed = [...rows[0]!.def.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(allowed.sort()).toEqual([...RESCHEDULE_REASONS].sort());
    expect([...PARK_REASONS].sort()).toEqual(RESCHEDULE_REASONS.filter((r) => r !== "retry").sort());
  });
});
