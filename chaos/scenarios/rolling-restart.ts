import { waitFor } from "../../tests/support/wait-for.js";
import { isReady } from "../lib/cluster.js";
import { auditJobs, drainCheck, lockedJobIds, type Fault } from "../lib/job-audit.js";
import { startLoadedCluster } from "../lib/loaded-cluster.js";
import { daemonRow } from "../lib/recovery.js";
import { scenarioDatabase, since, sleep, Teardown, type Recovery, type Scenario } from "../lib/scenario.js";

const SIZES = {
  full: { warmMs: 15_000, rounds: 2, pauseMs: 10_000, perSecond: 30, workMs: 500 },
  short: { warmMs: 4_000, rounds: 1, pauseMs: 2_000, perSecond: 20, workMs: 300 },
};
/** Drain budget (PGMILL_SHUTDOWN_TIMEOUT 10 s) plus start-up. */
const BACK_BOUND_MS = 40_000;

/**
 * Rolling SIGTERM restarts of every daemon at load, as a deploy does: each in
 * turn drains and exits 0, a new one takes its place; no job is lost and
 * none is left locked.
 */
export const rollingRestart: Scenario = async (adminUrl, size) => {
  const { warmMs, rounds, pauseMs, perSecond, workMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "rolling", teardown);
    const { cluster, load } = await startLoadedCluster(url, db, teardown, { perSecond, workMs });
    await sleep(warmMs);

    const faults: Fault[] = [];
    const exitCodes: (number | NodeJS.Signals)[] = [];
    const backIn: number[] = [];
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 3; i++) {
        const old = cluster.daemons[i]!;
        const row = await daemonRow(db, old);
        const held = await lockedJobIds(db, row.worker_ids);
        const signalledAt = Date.now();
        exitCodes.push(await cluster.terminate(old));
        faults.push({ label: `SIGTERM ${i}`, startedAt: signalledAt, endedAt: Date.now(), locked: held });
        const replacement = await cluster.launch(i);
        await cluster.waitRunning(replacement);
        const ready = await waitFor("the replacement to be ready", () => isReady(replacement), BACK_BOUND_MS, 100).then(
          () => since(signalledAt),
          () => null,
        );
        backIn.push(ready ?? Number.POSITIVE_INFINITY);
        await sleep(pauseMs);
      }
    }
    await load.stop();
    const drained = await drainCheck(db, load.ids);
    const jobs = await auditJobs(db, load.ids, faults);
    const slowest = Math.max(...backIn);
    const recoveries: Recovery[] = [
      { what: "slowest restart: SIGTERM to the replacement ready", ms: Number.isFinite(slowest) ? slowest : null, boundMs: BACK_BOUND_MS },
    ];
    return {
      id: "rolling-restart",
      title: "rolling SIGTERM restarts of every daemon at load",
      size,
      durationMs: since(started),
      setup: `3 daemons (drain budget 10 s), ${perSecond} jobs/s of ${workMs} ms; ${rounds} round(s) restarting each daemon in turn (SIGTERM, exit, start a new one), ${pauseMs / 1000} s apart`,
      jobs,
      recoveries,
      checks: [
        { what: "every SIGTERM ended in exit code 0", ok: exitCodes.every((c) => c === 0), detail: exitCodes.join(", ") },
        drained,
        cluster.exitCheck("no other daemon exited"),
      ],
    };
  } finally {
    await teardown.run();
  }
};
