import { waitFor } from "../../tests/support/wait-for.js";
import { Cluster, isReady } from "../lib/cluster.js";
import { auditJobs, drainCheck, lockedJobIds, type Fault } from "../lib/job-audit.js";
import { startJobEndpoint } from "../lib/job-endpoint.js";
import { addHttpJobs } from "../lib/load.js";
import { daemonRow } from "../lib/recovery.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

/** Both the jobs and the pause outlast dead-after, so the paused daemon is reaped with all of them in hand. */
const SIZES = {
  full: { workMs: 8_000, pauseMs: 10_000 },
  short: { workMs: 6_000, pauseMs: 7_000 },
};
const HEARTBEAT_S = 1;
const DEAD_AFTER_S = 5;
/** A fetches twice its concurrency, so it holds every job: half running, half in its local queue. */
const A_CONCURRENCY = 4;
const JOBS = 2 * A_CONCURRENCY;
/** Dead-after from A's last beat, then B's next beat (the reaper runs beside it), and a margin. */
const REAP_BOUND_MS = (DEAD_AFTER_S + 2 * HEARTBEAT_S + 1) * 1000;

/**
 * kill -STOP of a daemon holding jobs (a GC pause, a frozen VM), resumed after
 * longer than dead-after: a peer reaps it and reruns every job; the paused
 * daemon, on waking, applies none of its late outcomes (`stale`), starts none
 * of its locally queued jobs, and rejoins under a new id.
 */
export const sigstopPause: Scenario = async (adminUrl, size) => {
  const { workMs, pauseMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "sigstop", teardown);
    const endpoint = await startJobEndpoint();
    teardown.add(() => endpoint.close());
    const cluster = new Cluster(url, { PGMILL_HEARTBEAT_INTERVAL: String(HEARTBEAT_S), PGMILL_DEAD_AFTER: String(DEAD_AFTER_S) });
    teardown.add(() => cluster.stopAll());

    const a = await cluster.launch(0, { settings: { PGMILL_CONCURRENCY: String(A_CONCURRENCY) } });
    await cluster.waitRunning(a);
    const ids = await addHttpJobs(db, endpoint.url(workMs), JOBS);
    await waitFor(
      "A to hold every job, half of them running",
      async () => (await lockedJobIds(db)).size === JOBS && endpoint.requests() === A_CONCURRENCY,
      30_000,
    );
    // B comes up with nothing to fetch: A holds every job.
    const b = await cluster.launch(1, { settings: { PGMILL_CONCURRENCY: "16" } });
    await cluster.waitRunning(b);

    const aRow = await daemonRow(db, a);
    const held = await lockedJobIds(db, aRow.worker_ids);
    const finishedBeforePause = await db.selectFrom("pgmill.job_runs").select("job_id").where("job_id", "in", ids).execute();
    const startedBeforePause = endpoint.requests();
    // process.kill, not child.kill: the latter marks the child as killed, which exitCheck would then overlook.
    process.kill(a.process.child.pid!, "SIGSTOP");
    const pausedAt = Date.now();

    const reaped = await waitFor(
      "B to reap A",
      async () => {
        const row = await db.selectFrom("pgmill.daemons").select(["state", "reaped_by", "reaped_at"]).where("id", "=", aRow.id).executeTakeFirstOrThrow();
        return row.state === "dead" ? row : null;
      },
      REAP_BOUND_MS + 30_000,
      100,
    ).catch(() => null);
    await sleep(pauseMs - since(pausedAt));
    process.kill(a.process.child.pid!, "SIGCONT");
    const resumedAt = Date.now();

    const rejoined = await a.process.waitForLog(/^a peer marked this daemon dead/, 30_000).catch(() => null);
    const drained = await drainCheck(db, ids);
    // A's late outcomes are written when its handlers return, after it wakes.
    const runs = async () => db.selectFrom("pgmill.job_runs").select(["job_id", "status", "daemon_id", "finished_at"]).where("job_id", "in", ids).execute();
    await waitFor("A's late outcomes", async () => (await runs()).filter((r) => r.status === "stale").length >= held.size / 2, 10_000, 200).catch(() => null);
    const rows = await runs();
    const aNow = await daemonRow(db, a);
    const bRow = await daemonRow(db, b);
    const oldRow = await db.selectFrom("pgmill.daemons").select(["state", "reaped_by", "reaped_at"]).where("id", "=", aRow.id).executeTakeFirstOrThrow();
    const readyAgain = await waitFor("A to be ready again", () => isReady(a), 15_000, 200).catch(() => false);

    const of = (status: string, daemonId?: string) => rows.filter((r) => r.status === status && (!daemonId || r.daemon_id === daemonId));
    const byA = rows.filter((r) => r.status === "succeeded" && (r.daemon_id === aRow.id || r.daemon_id === aNow.id));
    const bSucceeded = of("succeeded", bRow.id);
    const lastRerun = Math.max(...bSucceeded.map((r) => r.finished_at.getTime()));
    const fault: Fault = { label: "SIGSTOP", startedAt: pausedAt, endedAt: resumedAt, locked: held };
    const jobs = await auditJobs(db, ids, [fault]);
    return {
      id: "sigstop-pause",
      title: "kill -STOP of a daemon holding jobs, resumed after dead-after",
      size,
      durationMs: since(started),
      setup:
        `daemon A (concurrency ${A_CONCURRENCY}) holding ${JOBS} jobs of ${workMs / 1000} s (${A_CONCURRENCY} running, ${A_CONCURRENCY} in its local queue), ` +
        `daemon B (concurrency 16) idle; heartbeat ${HEARTBEAT_S} s, dead-after ${DEAD_AFTER_S} s; A paused with SIGSTOP for ${Math.round((resumedAt - pausedAt) / 1000)} s, then SIGCONT; ` +
        `the job endpoint got ${endpoint.requests()} requests in all`,
      jobs,
      recoveries: [
        { what: "B reaps A (from the pause)", ms: reaped?.reaped_at ? reaped.reaped_at.getTime() - pausedAt : null, boundMs: REAP_BOUND_MS },
        {
          what: "B reran every job to success (from the pause)",
          ms: bSucceeded.length === JOBS ? lastRerun - pausedAt : null,
          boundMs: REAP_BOUND_MS + workMs + 5_000,
        },
      ],
      checks: [
        {
          what: `at the pause A held all ${JOBS} jobs, ${A_CONCURRENCY} running, none finished`,
          ok: held.size === JOBS && startedBeforePause === A_CONCURRENCY && finishedBeforePause.length === 0,
          detail: `held ${held.size}, requests ${startedBeforePause}, finished ${finishedBeforePause.length}`,
        },
        { what: `B wrote a lost row for each of A's jobs`, ok: of("lost", aRow.id).length === JOBS, detail: `${of("lost", aRow.id).length} lost rows` },
        { what: "A completed nothing", ok: byA.length === 0, detail: `${byA.length} succeeded rows by A` },
        {
          what: `A's late outcomes were recorded stale (its ${A_CONCURRENCY} running jobs only)`,
          ok: of("stale", aRow.id).length === A_CONCURRENCY && of("stale").length === A_CONCURRENCY,
          detail: `${of("stale", aRow.id).length} stale rows by A`,
        },
        {
          what: "A started none of its locally queued jobs after waking",
          ok: endpoint.requests() === A_CONCURRENCY + JOBS,
          detail: `${endpoint.requests()} requests: ${A_CONCURRENCY} by A before the pause, ${JOBS} reruns expected from B`,
        },
        { what: "every job succeeded once, on B", ok: bSucceeded.length === JOBS && of("succeeded").length === JOBS, detail: `${bSucceeded.length} by B, ${of("succeeded").length} in all` },
        {
          what: "A rejoined under a new id; its reaped row kept state dead, reaped_by and reaped_at",
          ok: rejoined !== null && aNow.id !== aRow.id && oldRow.state === "dead" && oldRow.reaped_by === bRow.id && oldRow.reaped_at !== null,
          detail: `${aRow.id} -> ${aNow.id} (${aNow.state}); old row ${oldRow.state}, reaped by ${oldRow.reaped_by === bRow.id ? "B" : String(oldRow.reaped_by)} at ${oldRow.reaped_at?.toISOString() ?? "null"}`,
        },
        { what: "A's /readyz answers 200 again after rejoining", ok: readyAgain === true, detail: readyAgain ? "200" : "not ready" },
        drained,
        cluster.exitCheck(),
      ],
    };
  } finally {
    await teardown.run();
  }
};
