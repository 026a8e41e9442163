import { sql } from "kysely";
import { waitFor } from "../../tests/support/wait-for.js";
import { Cluster, DEAD_AFTER_S, isReady } from "../lib/cluster.js";
import { auditJobs, drainCheck, lockedJobIds, type Fault } from "../lib/job-audit.js";
import { startJobEndpoint } from "../lib/job-endpoint.js";
import { addHttpJobs } from "../lib/load.js";
import { startRestartableServer } from "../lib/restartable-server.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

/** Jobs outlast the outage plus dead-after: still running when the daemons could first judge each other again. */
const SIZES = {
  full: { jobs: 40, workMs: 15_000, downMs: 10_000 },
  short: { jobs: 16, workMs: 11_000, downMs: 4_000 },
};
const DAEMONS = 2;
const READY_BOUND_MS = 10_000;

/**
 * kill -9 of the postmaster with every job in flight on two daemons, started
 * again after an outage longer than dead-after: every `last_seen` is old when
 * it returns, yet no daemon may take a live peer for dead. No job is reaped,
 * none runs twice, none succeeds twice.
 */
export const postgresCrash: Scenario = async (_adminUrl, size) => {
  const { jobs: count, workMs, downMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const server = await startRestartableServer();
    teardown.add(() => server.destroy());
    const { url, db } = await scenarioDatabase(server.adminUrl, "pg_crash", teardown);
    const endpoint = await startJobEndpoint();
    teardown.add(() => endpoint.close());
    // Each daemon runs, and fetches, half the jobs: all of them are running at the crash.
    const perDaemon = String(count / DAEMONS);
    const cluster = new Cluster(url, { PGMILL_CONCURRENCY: perDaemon, PGMILL_LOCAL_QUEUE_SIZE: perDaemon });
    teardown.add(() => cluster.stopAll());
    await cluster.start(DAEMONS);
    const daemons = [...cluster.daemons];

    const ids = await addHttpJobs(db, endpoint.url(workMs), count);
    await waitFor("every job to be running", () => endpoint.requests() === count, 30_000);
    await sleep(1_000);
    const locked = await lockedJobIds(db);
    const crashedAt = Date.now();
    await server.crash();
    await sleep(downMs - since(crashedAt));
    await server.start();
    const returnedAt = Date.now();
    const fault: Fault = { label: "postmaster kill -9", startedAt: crashedAt, endedAt: returnedAt, locked };

    const readyMs = await waitFor("every daemon to be ready again", async () => (await Promise.all(daemons.map(isReady))).every(Boolean), READY_BOUND_MS + 30_000, 100).then(
      () => since(returnedAt),
      () => null,
    );
    const drained = await drainCheck(db, ids);
    // Dead-after past the return: a daemon misreading an old last_seen as death would have reaped by now.
    await sleep((DEAD_AFTER_S + 2) * 1000 - since(returnedAt));

    const { rows: dead } = await sql<{ id: string }>`select id from pgmill.daemons where state = 'dead'`.execute(db);
    const lost = await db.selectFrom("pgmill.job_runs").select(["job_id", "error_message"]).where("job_id", "in", ids).where("status", "=", "lost").execute();
    const { rows: successes } = await sql<{ job_id: string; n: number }>`
      select job_id::text, count(*) filter (where status = 'succeeded')::int as n
        from pgmill.job_runs where job_id = any(${ids}::bigint[]) group by job_id
    `.execute(db);
    const notOnce = ids.filter((id) => successes.find((s) => s.job_id === id)?.n !== 1);
    const jobs = await auditJobs(db, ids, [fault]);
    return {
      id: "postgres-crash",
      title: "kill -9 of the postmaster with long jobs in flight",
      size,
      durationMs: since(started),
      setup:
        `${DAEMONS} daemons (concurrency ${perDaemon} each, dead-after ${DEAD_AFTER_S} s) on a throwaway embedded Postgres, ${count} jobs of ${workMs / 1000} s all running; ` +
        `postmaster killed with SIGKILL 1 s in, started again after ${Math.round((returnedAt - crashedAt) / 1000)} s (crash recovery); ` +
        `${endpoint.requests()} executions of ${count} jobs`,
      jobs,
      recoveries: [{ what: "every daemon ready again (from the server's return)", ms: readyMs, boundMs: READY_BOUND_MS }],
      checks: [
        { what: "no daemon was marked dead", ok: dead.length === 0, detail: dead.length ? dead.map((d) => d.id).join(", ") : "none" },
        {
          what: "no lost rows (no job was taken from its daemon)",
          ok: lost.length === 0,
          detail: lost.length ? `${lost.length}: ${[...new Set(lost.map((l) => l.error_message ?? ""))].join("; ").slice(0, 300)}` : "none",
        },
        { what: "each job succeeded exactly once", ok: notOnce.length === 0, detail: notOnce.length ? `not once: ${notOnce.slice(0, 10).join(", ")}` : `${count} of ${count}` },
        { what: "each job executed once", ok: endpoint.requests() === count, detail: `${endpoint.requests()} executions of ${count} jobs` },
        drained,
        cluster.exitCheck(),
      ],
    };
  } finally {
    await teardown.run();
  }
};
