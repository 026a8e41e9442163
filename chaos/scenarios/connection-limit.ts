import { randomBytes } from "node:crypto";
import pg from "pg";
import { withAdmin } from "../../tests/support/database-admin.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { Cluster, isReady } from "../lib/cluster.js";
import { startJobEndpoint } from "../lib/job-endpoint.js";
import { auditJobs, drainCheck } from "../lib/job-audit.js";
import { Load } from "../lib/load.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

const SIZES = {
  full: { blockedMs: 15_000, loadMs: 60_000, perSecond: 20, workMs: 300 },
  short: { blockedMs: 5_000, loadMs: 10_000, perSecond: 15, workMs: 300 },
};
/** What the daemon's role may open; its pool wants 10 (PGMILL_DB_POOL_SIZE). */
const CONNECTION_LIMIT = 3;
const READY_BOUND_MS = 30_000;

/**
 * A connection limit lower than the pool wants, on a role of the scenario's
 * own (superusers are exempt from limits): first every allowed connection is
 * taken by someone else, so the daemon cannot even migrate, then it gets the
 * limit's worth while its pool wants more. It must say why, retry, and work
 * with what it has, never exit into a crash loop.
 */
export const connectionLimit: Scenario = async (adminUrl, size) => {
  const { blockedMs, loadMs, perSecond, workMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const role = `pgmill_chaos_limited_${randomBytes(3).toString("hex")}`;
    await withAdmin(adminUrl, (admin) => admin.query(`create role ${admin.escapeIdentifier(role)} login connection limit ${CONNECTION_LIMIT}`));
    teardown.add(() => withAdmin(adminUrl, (admin) => admin.query(`drop role if exists ${admin.escapeIdentifier(role)}`)));
    const asRole = (url: string) => Object.assign(new URL(url), { username: role }).toString();
    const { url, db } = await scenarioDatabase(adminUrl, "conn_limit", teardown, { owner: role, urlFor: asRole });

    // Someone else holds every connection the role may open.
    const hogs = Array.from({ length: CONNECTION_LIMIT }, () => new pg.Client({ connectionString: url }));
    for (const hog of hogs) {
      hog.on("error", () => undefined);
      await hog.connect();
      teardown.add(() => hog.end().catch(() => undefined));
    }
    const endpoint = await startJobEndpoint();
    teardown.add(() => endpoint.close());
    const cluster = new Cluster(url, { PGMILL_DB_POOL_SIZE: "10" });
    teardown.add(() => cluster.stopAll());
    const daemon = await cluster.launch(0);
    const refused = await daemon.process.waitForLog(/^cannot migrate the database: too many connections/, 30_000);
    await sleep(blockedMs);
    const retries = daemon.process.lines.filter((l) => /^cannot migrate the database/.test(String(l.msg))).length;
    const readyWhileBlocked = await isReady(daemon);
    const aliveWhileBlocked = daemon.process.child.exitCode === null;

    const freedAt = Date.now();
    for (const hog of hogs) await hog.end();
    const readyMs = await waitFor("the daemon to be ready", () => isReady(daemon), READY_BOUND_MS + 30_000, 100).then(
      () => since(freedAt),
      () => null,
    );

    const load = new Load(db, endpoint.url(workMs), perSecond);
    teardown.add(() => load.stop());
    load.start();
    await sleep(loadMs);
    await load.stop();
    const drained = await drainCheck(db, load.ids);
    // Each refusal is a fault: the attempt it failed to record or complete may run again.
    const refusals = daemon.process.lines.filter((l) => JSON.stringify(l).includes("too many connections for role"));
    const faults = refusals.map((l) => ({ label: "connection refused", startedAt: Number(l.time), endedAt: Number(l.time), locked: new Set<string>() }));
    const jobs = await auditJobs(db, load.ids, faults);
    const caps = daemon.process.lines.filter((l) => /^the database (refused a connection|allows another connection)/.test(String(l.msg))).map((l) => l.cap);
    return {
      id: "connection-limit",
      title: "a connection limit lower than the pool wants",
      size,
      durationMs: since(started),
      setup: `1 daemon (pool 10, concurrency 8) as a role with CONNECTION LIMIT ${CONNECTION_LIMIT}: all ${CONNECTION_LIMIT} taken by other sessions for ${blockedMs / 1000} s, then freed; then ${perSecond} jobs/s of ${workMs} ms for ${loadMs / 1000} s; ${refusals.length} log lines named the limit; pool cap went ${caps.join(" → ") || "unchanged"}`,
      jobs,
      recoveries: [{ what: "ready once connections were free (from freeing them)", ms: readyMs, boundMs: READY_BOUND_MS }],
      checks: [
        { what: "the error names the cause", ok: /SQLSTATE 53300/.test(String(refused.msg)), detail: String(refused.msg).slice(0, 300) },
        { what: "it kept retrying, not ready, not exiting while blocked", ok: retries >= 2 && !readyWhileBlocked && aliveWhileBlocked, detail: `${retries} attempts logged; /readyz ${readyWhileBlocked ? "200" : "503"}` },
        drained,
        cluster.exitCheck(),
      ],
    };
  } finally {
    await teardown.run();
  }
};
