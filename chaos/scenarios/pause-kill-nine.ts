import { sql } from "kysely";
import type { Db } from "../../src/db/database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { DEAD_AFTER_S } from "../lib/cluster.js";
import { auditJobs, drainCheck, lockedJobIds, type Fault } from "../lib/job-audit.js";
import { startLoadedCluster } from "../lib/loaded-cluster.js";
import { daemonRow } from "../lib/recovery.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

const SIZES = {
  full: { warmMs: 15_000, pausedMs: 40_000, afterMs: 30_000, perSecond: 30, workMs: 500 },
  short: { warmMs: 4_000, pausedMs: 14_000, afterMs: 8_000, perSecond: 20, workMs: 300 },
};
/** The pause promise: within a second no daemon starts a new attempt. */
const PAUSE_TAKES_MS = 1_000;
/** After a resume, held jobs start within a second; generous here, for a loaded machine. */
const RESUME_BOUND_MS = 5_000;

/** Attempts of `task` that started after `from` (rows written by a daemon that ran a handler). */
async function attemptsStartedAfter(db: Db, task: string, from: number): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pgmill.job_runs
     where task = ${task} and started_at > ${new Date(from)} and status not in ('lost', 'stale')
  `.execute(db);
  return rows[0]!.n;
}

/**
 * kill -9 of one of three daemons while the task under load is paused, and a
 * new daemon started during the pause: the pause is Postgres state, so it
 * holds through the kill, the reaping and the newcomer; the victim's jobs
 * are released and wait with the rest; after the resume every job runs.
 */
export const pauseKillNine: Scenario = async (adminUrl, size) => {
  const { warmMs, pausedMs, afterMs, perSecond, workMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "pause_kill_nine", teardown);
    const { cluster, load } = await startLoadedCluster(url, db, teardown, { perSecond, workMs });
    await sleep(warmMs);

    await sql`select pgmill.pause_task('http')`.execute(db);
    const pausedAt = Date.now();
    await sleep(PAUSE_TAKES_MS);
    const victim = cluster.daemons[0]!;
    const row = await daemonRow(db, victim);
    victim.process.child.kill("SIGKILL");
    const killedAt = Date.now();
    await victim.process.exited;
    const held = await lockedJobIds(db, row.worker_ids);
    const fault: Fault = { label: "kill -9 while paused", startedAt: killedAt, endedAt: killedAt, locked: held };
    // A daemon started while the task is paused learns the pause from Postgres.
    const newcomer = await cluster.launch(3);
    await cluster.waitRunning(newcomer);
    await waitFor("the victim to be reaped", async () => (await daemonRow(db, victim)).state === "dead", (DEAD_AFTER_S + 30) * 1000, 200);
    await sleep(Math.max(0, pausedMs - since(pausedAt)));
    const startedWhilePaused = await attemptsStartedAfter(db, "http", pausedAt + PAUSE_TAKES_MS);
    const heldJobs = await db.selectFrom("pgmill.held_jobs").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow();

    await sql`select pgmill.resume_task('http')`.execute(db);
    const resumedAt = Date.now();
    let resumedMs: number | null = null;
    await waitFor("an attempt to start after the resume", async () => (await attemptsStartedAfter(db, "http", resumedAt)) > 0, RESUME_BOUND_MS + 10_000, 100).then(
      () => (resumedMs = since(resumedAt)),
      () => undefined,
    );
    await sleep(Math.max(0, afterMs - since(resumedAt)));
    await load.stop();
    const drained = await drainCheck(db, load.ids);
    const jobs = await auditJobs(db, load.ids, [fault]);
    const heldLeft = await db.selectFrom("pgmill.held_jobs").select("job_id").execute();
    return {
      id: "pause-kill-nine",
      title: "kill -9 of a daemon while a task is paused",
      size,
      durationMs: since(started),
      setup: `3 daemons, ${perSecond} http jobs/s of ${workMs} ms; http paused after ${warmMs / 1000} s for ${pausedMs / 1000} s, one daemon killed (-9) ${PAUSE_TAKES_MS / 1000} s into the pause (it held ${held.size} jobs) and a fourth started; load kept ${afterMs / 1000} s after the resume`,
      jobs,
      recoveries: [{ what: "attempts start again (from the resume)", ms: resumedMs, boundMs: RESUME_BOUND_MS }],
      checks: [
        { what: "the pause held: no attempt started from a second after the pause to the resume", ok: startedWhilePaused === 0, detail: `${startedWhilePaused} started; ${heldJobs.n} jobs held at the resume` },
        { what: "jobs waited while paused (held)", ok: Number(heldJobs.n) > 0, detail: `${heldJobs.n} held` },
        { what: "no job left held after the resume", ok: heldLeft.length === 0, detail: `${heldLeft.length} held` },
        drained,
        cluster.exitCheck("no survivor exited"),
      ],
    };
  } finally {
    await teardown.run();
  }
};
