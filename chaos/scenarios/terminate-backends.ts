import { sql } from "kysely";
import { auditJobs, lockedJobIds, drainCheck, type Fault } from "../lib/job-audit.js";
import { startLoadedCluster } from "../lib/loaded-cluster.js";
import { timeToResume } from "../lib/recovery.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

const SIZES = {
  full: { warmMs: 15_000, faultMs: 60_000, afterMs: 30_000, perSecond: 30, workMs: 500 },
  short: { warmMs: 5_000, faultMs: 10_000, afterMs: 8_000, perSecond: 20, workMs: 300 },
};
const RESUME_BOUND_MS = 30_000;

/**
 * The daemons' connections terminated with pg_terminate_backend every second
 * for a minute at load, from an admin session: the daemons' sessions carry
 * application_name `pgmill` (the shared pool) and `pgmill-heartbeat`, the
 * harness's own `pgmill-chaos`.
 */
export const terminateBackends: Scenario = async (adminUrl, size) => {
  const { warmMs, faultMs, afterMs, perSecond, workMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "terminate", teardown);
    const { cluster, load } = await startLoadedCluster(url, db, teardown, { perSecond, workMs });
    const daemons = [...cluster.daemons];
    await sleep(warmMs);

    const faults: Fault[] = [];
    let terminated = 0;
    const faultStart = Date.now();
    while (since(faultStart) < faultMs) {
      const locked = await lockedJobIds(db);
      const at = Date.now();
      const { rows } = await sql<{ n: number }>`
        select count(*) filter (where pg_terminate_backend(pid))::int as n
          from pg_stat_activity
         where datname = current_database() and application_name in ('pgmill', 'pgmill-heartbeat')
      `.execute(db);
      terminated += rows[0]!.n;
      faults.push({ label: "pg_terminate_backend", startedAt: at, endedAt: Date.now(), locked });
      await sleep(1_000 - (Date.now() - at));
    }
    const faultEnd = Date.now();

    const resumedMs = await timeToResume(db, daemons, faultEnd, RESUME_BOUND_MS);
    await sleep(Math.max(0, afterMs - since(faultEnd)));
    await load.stop();
    const drained = await drainCheck(db, load.ids);
    const jobs = await auditJobs(db, load.ids, faults);
    return {
      id: "terminate-backends",
      title: "the daemons' connections terminated every second for a minute at load",
      size,
      durationMs: since(started),
      setup: `3 daemons, ${perSecond} jobs/s of ${workMs} ms; pg_terminate_backend of every pgmill session each second for ${faultMs / 1000} s (${faults.length} rounds, ${terminated} sessions terminated)`,
      jobs,
      recoveries: [{ what: "every daemon ready and at work again (from the last termination)", ms: resumedMs, boundMs: RESUME_BOUND_MS }],
      checks: [
        { what: "sessions were terminated", ok: terminated > 0, detail: `${terminated}` },
        drained,
        cluster.exitCheck(),
      ],
    };
  } finally {
    await teardown.run();
  }
};
