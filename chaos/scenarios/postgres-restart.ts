import { sql } from "kysely";
import { waitFor } from "../../tests/support/wait-for.js";
import { isReady } from "../lib/cluster.js";
import { auditJobs, lockedJobIds, drainCheck, type Fault } from "../lib/job-audit.js";
import { startLoadedCluster } from "../lib/loaded-cluster.js";
import { timeToResume } from "../lib/recovery.js";
import { startRestartableServer } from "../lib/restartable-server.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

const SIZES = {
  full: { warmMs: 20_000, downMs: 15_000, afterMs: 60_000, perSecond: 30, workMs: 500 },
  short: { warmMs: 5_000, downMs: 4_000, afterMs: 8_000, perSecond: 20, workMs: 300 },
};
const RESUME_BOUND_MS = 10_000;

/**
 * A Postgres restart at load, on a throwaway server of the scenario's own:
 * the daemons stay up, /readyz flips to 503 and back, and all of them are
 * at work again within 10 s of the server's return.
 */
export const postgresRestart: Scenario = async (_adminUrl, size) => {
  const { warmMs, downMs, afterMs, perSecond, workMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const server = await startRestartableServer();
    teardown.add(() => server.destroy());
    const { url, db } = await scenarioDatabase(server.adminUrl, "pg_restart", teardown);
    const { rows } = await sql<{ server_version: string }>`show server_version`.execute(db);
    const { cluster, load } = await startLoadedCluster(url, db, teardown, { perSecond, workMs });
    const daemons = [...cluster.daemons];
    await sleep(warmMs);

    const locked = await lockedJobIds(db);
    const stoppedAt = Date.now();
    await server.stop();
    const flipped = await waitFor("every daemon's /readyz to answer 503", async () => {
      const ready = await Promise.all(daemons.map(isReady));
      return ready.every((r) => !r);
    }, 30_000, 100).then(() => since(stoppedAt), () => null);
    await sleep(Math.max(0, downMs - since(stoppedAt)));
    await server.start();
    const returnedAt = Date.now();
    const fault: Fault = { label: "postgres restart", startedAt: stoppedAt, endedAt: returnedAt, locked };

    const resumedMs = await timeToResume(db, daemons, returnedAt, RESUME_BOUND_MS);
    await sleep(Math.max(0, afterMs - since(returnedAt)));
    await load.stop();
    const drained = await drainCheck(db, load.ids);
    const jobs = await auditJobs(db, load.ids, [fault]);
    return {
      id: "postgres-restart",
      title: "a Postgres restart at load",
      size,
      durationMs: since(started),
      setup: `3 daemons on a throwaway embedded Postgres ${rows[0]!.server_version}, ${perSecond} jobs/s of ${workMs} ms; server stopped (fast) after ${warmMs / 1000} s for ${Math.round((returnedAt - stoppedAt) / 1000)} s; ${load.failedBatches} enqueue batches failed while it was down`,
      jobs,
      recoveries: [{ what: "every daemon ready and at work again (from the server's return)", ms: resumedMs, boundMs: RESUME_BOUND_MS }],
      checks: [
        { what: "readiness flipped to 503 on every daemon while the server was down", ok: flipped !== null, detail: flipped === null ? "not all flipped" : `all 503 within ${flipped} ms` },
        drained,
        cluster.exitCheck(),
      ],
    };
  } finally {
    await teardown.run();
  }
};
