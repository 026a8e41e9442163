import { sql } from "kysely";
import { overlappingAttempts } from "../../tests/support/attempt-timeline.js";
import { runsInQueue } from "../../tests/support/sql-jobs.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { DEAD_AFTER_S } from "../lib/cluster.js";
import { auditJobs, drainCheck, lockedJobIds, type Fault } from "../lib/job-audit.js";
import { addHttpJobs } from "../lib/load.js";
import { startLoadedCluster } from "../lib/loaded-cluster.js";
import { daemonRow } from "../lib/recovery.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

const SIZES = {
  full: { warmMs: 10_000, afterMs: 60_000, perSecond: 30, workMs: 500, backlog: 60, queueWorkMs: 1_000 },
  short: { warmMs: 3_000, afterMs: 15_000, perSecond: 20, workMs: 300, backlog: 20, queueWorkMs: 600 },
};
const QUEUE = "serial";
/** The freed queue waits for a fetch: the load's NOTIFYs, else the daemons' 2 s poll. */
const RESUME_BOUND_MS = 10_000;

/**
 * kill -9 of the daemon running a named queue's job, at load: the queue stays
 * held (no other job of it starts) until a survivor reaps the victim and
 * releases the job, then runs on; its attempts never overlap.
 */
export const queueKillNine: Scenario = async (adminUrl, size) => {
  const { warmMs, afterMs, perSecond, workMs, backlog, queueWorkMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "queue_kill", teardown);
    const { cluster, load, endpoint } = await startLoadedCluster(url, db, teardown, { perSecond, workMs });
    const queued = await addHttpJobs(db, endpoint.url(queueWorkMs), backlog, QUEUE);
    await sleep(warmMs);

    // A queue job locked moments ago, so its daemon is surely still running it at the kill.
    const target = await waitFor(
      "a daemon to start a job of the queue",
      async () => {
        const { rows } = await sql<{ id: string; locked_by: string }>`
          select id, locked_by from graphile_worker.jobs
           where queue_name = ${QUEUE} and locked_at > now() - make_interval(secs => ${queueWorkMs / 3000})
        `.execute(db);
        const job = rows[0];
        if (!job) return null;
        for (const daemon of cluster.daemons) {
          const row = await daemonRow(db, daemon);
          if (row.worker_ids.includes(job.locked_by)) return { daemon, row, jobId: job.id };
        }
        return null;
      },
      30_000,
      20,
    );
    target.daemon.process.child.kill("SIGKILL");
    const killedAt = Date.now();
    await target.daemon.process.exited;
    const held = await lockedJobIds(db, target.row.worker_ids);
    const fault: Fault = { label: "kill -9", startedAt: killedAt, endedAt: killedAt, locked: held };

    // Released when a survivor's reaper writes the job's lost row and unlocks it (and its queue) in one transaction.
    const lost = await waitFor(
      "a survivor to release the killed job",
      () =>
        db
          .selectFrom("pgmill.job_runs")
          .select("finished_at")
          .where("job_id", "=", target.jobId)
          .where("status", "=", "lost")
          .executeTakeFirst(),
      (DEAD_AFTER_S + 60) * 1000,
      100,
    ).catch(() => null);
    const releasedAt = lost?.finished_at ?? new Date();
    const startedWhileHeld = await db
      .selectFrom("pgmill.job_runs")
      .select("job_id")
      .where("queue", "=", QUEUE)
      .where("job_id", "!=", target.jobId)
      .where("started_at", ">", new Date(killedAt))
      .where("started_at", "<", releasedAt)
      .execute();
    const next = await waitFor(
      "the queue to run again",
      () =>
        db
          .selectFrom("pgmill.job_runs")
          .select("started_at")
          .where("queue", "=", QUEUE)
          .where("started_at", ">", releasedAt)
          .orderBy("started_at")
          .executeTakeFirst(),
      RESUME_BOUND_MS + 30_000,
      100,
    ).catch(() => null);

    await sleep(Math.max(0, afterMs - since(killedAt)));
    await load.stop();
    const drained = await drainCheck(db, [...load.ids, ...queued]);

    const queueRuns = await runsInQueue(db, QUEUE);
    const overlaps = overlappingAttempts(queueRuns).map(([a, b]) => `${a.job_id}/${b.job_id}`);
    const queueSucceeded = new Set(queueRuns.filter((r) => r.status === "succeeded").map((r) => r.job_id)).size;
    const jobs = await auditJobs(db, [...load.ids, ...queued], [fault]);
    return {
      id: "queue-kill-nine",
      title: "kill -9 of the daemon running a named queue's job",
      size,
      durationMs: since(started),
      setup:
        `3 daemons (concurrency 8, dead-after ${DEAD_AFTER_S} s), ${perSecond} jobs/s of ${workMs} ms in no queue and a backlog of ${backlog} jobs ` +
        `of ${queueWorkMs} ms in queue '${QUEUE}'; kill -9 of the daemon running a job of the queue after ${warmMs / 1000} s, load kept ${afterMs / 1000} s after`,
      jobs,
      recoveries: [
        { what: "a survivor releases the killed queue job (from the kill)", ms: lost ? lost.finished_at.getTime() - killedAt : null, boundMs: (DEAD_AFTER_S + 60) * 1000 },
        { what: "the queue runs again (from the release)", ms: lost && next ? next.started_at.getTime() - releasedAt.getTime() : null, boundMs: RESUME_BOUND_MS },
      ],
      checks: [
        { what: "the victim held the queue's job at the kill", ok: held.has(target.jobId), detail: `job ${target.jobId} (the victim held ${held.size} jobs)` },
        {
          what: "no other job of the queue started between the kill and the release",
          ok: lost !== null && startedWhileHeld.length === 0,
          detail: lost ? `${startedWhileHeld.length} started in the ${((releasedAt.getTime() - killedAt) / 1000).toFixed(1)} s` : "never released",
        },
        {
          what: "no two attempts of the queue overlapped (the lost row included)",
          ok: overlaps.length === 0,
          detail: overlaps.length ? `${overlaps.length} pairs: ${overlaps.slice(0, 5).join(", ")}` : `${queueRuns.length} attempts, one at a time`,
        },
        { what: "every job of the queue succeeded", ok: queueSucceeded === backlog, detail: `${queueSucceeded} of ${backlog}` },
        drained,
        cluster.exitCheck("no survivor exited"),
      ],
    };
  } finally {
    await teardown.run();
  }
};
