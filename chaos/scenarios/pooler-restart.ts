import { waitFor } from "../../tests/support/wait-for.js";
import { startPgBouncer } from "../../tests/support/pgbouncer.js";
import { Cluster, isReady } from "../lib/cluster.js";
import { auditJobs, lockedJobIds, drainCheck, type Fault } from "../lib/job-audit.js";
import { startJobEndpoint } from "../lib/job-endpoint.js";
import { Load } from "../lib/load.js";
import { timeToResume } from "../lib/recovery.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

const SIZES = {
  full: { warmMs: 20_000, downMs: 30_000, afterMs: 60_000, perSecond: 30, workMs: 500 },
  // Down long enough for readiness to see the engine failing (10 s of failed fetches).
  short: { warmMs: 5_000, downMs: 16_000, afterMs: 8_000, perSecond: 20, workMs: 300 },
};
const RESUME_BOUND_MS = 30_000;

/**
 * PgBouncer in transaction mode restarted at load: three daemons whose
 * DATABASE_URL is the pooler and PGMILL_DIRECT_URL the server (LISTEN,
 * heartbeat). While the pooler is down their fetches and completions fail:
 * readiness turns 503, yet their heartbeats go on, so no peer reaps them;
 * once it is back they are at work again, every job accounted for.
 */
export const poolerRestart: Scenario = async (adminUrl, size) => {
  const { warmMs, downMs, afterMs, perSecond, workMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "pooler", teardown);
    // Three daemons' pools of 10, and room to spare.
    const bouncer = await startPgBouncer(adminUrl, { mode: "transaction", poolSize: 40 });
    teardown.add(() => bouncer.dispose());
    const endpoint = await startJobEndpoint();
    teardown.add(() => endpoint.close());
    const cluster = new Cluster(bouncer.url(new URL(url).pathname.slice(1)), { PGMILL_DIRECT_URL: url });
    teardown.add(() => cluster.stopAll());
    await cluster.start(3);
    const load = new Load(db, endpoint.url(workMs), perSecond);
    teardown.add(() => load.stop());
    load.start();
    const daemons = [...cluster.daemons];
    await sleep(warmMs);

    const locked = await lockedJobIds(db);
    const stoppedAt = Date.now();
    await bouncer.stop();
    const flipped = await waitFor("every daemon's /readyz to answer 503", async () => {
      const ready = await Promise.all(daemons.map(isReady));
      return ready.every((r) => !r);
    }, downMs, 200).then(() => since(stoppedAt), () => null);
    await sleep(Math.max(0, downMs - since(stoppedAt)));
    await bouncer.start();
    const returnedAt = Date.now();
    const fault: Fault = { label: "pooler restart", startedAt: stoppedAt, endedAt: returnedAt, locked };

    const resumedMs = await timeToResume(db, daemons, returnedAt, RESUME_BOUND_MS);
    await sleep(Math.max(0, afterMs - since(returnedAt)));
    await load.stop();
    const drained = await drainCheck(db, load.ids);
    const jobs = await auditJobs(db, load.ids, [fault]);
    const reaped = await db.selectFrom("pgmill.daemons").select("id").where("state", "=", "dead").execute();
    return {
      id: "pooler-restart",
      title: "PgBouncer (transaction mode) restarted at load",
      size,
      durationMs: since(started),
      setup: `3 daemons with DATABASE_URL through PgBouncer (transaction mode, pool 40) and PGMILL_DIRECT_URL to the server, ${perSecond} jobs/s of ${workMs} ms (enqueued directly); PgBouncer stopped (immediate shutdown) after ${warmMs / 1000} s for ${Math.round((returnedAt - stoppedAt) / 1000)} s`,
      jobs,
      recoveries: [{ what: "every daemon ready and at work again (from the pooler's return)", ms: resumedMs, boundMs: RESUME_BOUND_MS }],
      checks: [
        { what: "readiness flipped to 503 on every daemon while the pooler was down", ok: flipped !== null, detail: flipped === null ? "not all flipped" : `all 503 within ${flipped} ms` },
        { what: "no daemon reaped (heartbeats go direct)", ok: reaped.length === 0, detail: reaped.length ? `${reaped.length} reaped` : "none" },
        drained,
        cluster.exitCheck(),
      ],
    };
  } finally {
    await teardown.run();
  }
};
