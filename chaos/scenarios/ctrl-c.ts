import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { sql } from "kysely";
import { pino } from "pino";
import { openDatabase } from "../../src/db/database.js";
import { startEmbeddedPostgres } from "../../src/db/embedded-postgres.js";
import { processAlive } from "../../src/db/process-alive.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";
import { freePort, traversableTempDir } from "../../tests/support/postgres-server.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { Cluster, exitWithin, type ClusterDaemon } from "../lib/cluster.js";
import { auditJobs, drainCheck, lockedJobIds, type Fault } from "../lib/job-audit.js";
import { startJobEndpoint } from "../lib/job-endpoint.js";
import { addHttpJobs } from "../lib/load.js";
import { since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

/** Slow jobs outlast the drain budget (PGMILL_SHUTDOWN_TIMEOUT), quick ones finish within it. */
const SIZES = {
  full: { drainS: 10, concurrency: 8, slowJobs: 4, slowMs: 20_000, quickJobs: 40, quickMs: 2_000 },
  short: { drainS: 3, concurrency: 4, slowJobs: 2, slowMs: 6_000, quickJobs: 10, quickMs: 1_000 },
};
/** README's budget after the drain: 5 s for handlers to settle, up to 10 s to release and flush. */
const AFTER_DRAIN_MS = 15_000;
/** A second signal exits within 3 s whatever still runs; a margin on top. */
const FORCED_EXIT_BOUND_MS = 5_000;
/** `pgmill run` plus a task whose handler never settles. */
const STUCK_DAEMON = "tests/support/daemon-with-stuck-task.ts";

/**
 * Ctrl-C in the terminal running a daemon with embedded Postgres (no
 * DATABASE_URL): SIGINT to its whole process group. It drains like SIGTERM,
 * records the attempts in flight, stops its Postgres last and exits 0; a
 * restarted daemon runs what was left. A second Ctrl-C during a drain that
 * cannot finish exits 1 within seconds, and leaves no Postgres behind.
 */
export const ctrlC: Scenario = async (_adminUrl, size) => {
  const { drainS, concurrency, slowJobs, slowMs, quickJobs, quickMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const dataDir = await traversableTempDir("pgmill-chaos-ctrl-c-");
    teardown.add(() => rm(dataDir, { recursive: true, force: true }));
    teardown.add(async () => {
      const pid = await postmasterLeft(dataDir);
      if (pid) process.kill(pid, "SIGKILL");
    });
    const port = await freePort();
    const endpoint = await startJobEndpoint();
    teardown.add(() => endpoint.close());
    const cluster = new Cluster(null, {
      PGMILL_DATA_DIR: dataDir,
      PGMILL_EMBEDDED_PORT: String(port),
      PGMILL_SHUTDOWN_TIMEOUT: String(drainS),
      PGMILL_CONCURRENCY: String(concurrency),
    });
    teardown.add(() => cluster.stopAll());
    // As `npm start` in a terminal: its own process group, which Ctrl-C signals as a whole.
    const inTerminal = async (index: number, script?: string) => {
      const daemon = await cluster.launch(index, { spawn: { detached: true, ...(script ? { script } : {}) } });
      const { connectionString } = await daemon.process.waitForLog(/^no DATABASE_URL: started embedded postgres/, 90_000);
      await cluster.waitRunning(daemon);
      return { daemon, connectionString: String(connectionString) };
    };

    // 1. Ctrl-C with every slot busy: slow jobs past the drain budget, quick ones within it, more waiting.
    const first = await inTerminal(0);
    const handle = openDatabase(first.connectionString, { maxConnections: 4, applicationName: "pgmill-chaos" });
    teardown.add(() => handle.close());
    const { db } = handle;
    const slow = await addHttpJobs(db, endpoint.url(slowMs), slowJobs);
    const ids = [...slow, ...(await addHttpJobs(db, endpoint.url(quickMs), quickJobs))];
    await waitFor("every slot to be busy", () => endpoint.requests() >= concurrency, 30_000);
    const locked = await lockedJobIds(db);
    const interruptedAt = Date.now();
    ctrlCIn(first.daemon);
    const code = await exitWithin(first.daemon.process, (drainS + 30) * 1000 + AFTER_DRAIN_MS).catch(() => null);
    const exitMs = since(interruptedAt);
    const leftAfterDrain = await postmasterLeft(dataDir);
    const firstLines = first.daemon.process.lines;
    // graphile-worker 0.18 logs errors releasing a local queue that holds jobs; pgmill's own must be none.
    const errors = firstLines.filter((l) => Number(l.level) >= 50 && l.component !== "graphile-worker").map((l) => String(l.msg));
    const engineErrors = firstLines.filter((l) => Number(l.level) >= 50 && l.component === "graphile-worker").length;
    const fault: Fault = { label: "Ctrl-C", startedAt: interruptedAt, endedAt: interruptedAt + exitMs, locked };

    // 2. A restarted daemon runs what was left; then a second Ctrl-C during a drain that cannot finish.
    const second = await inTerminal(1, STUCK_DAEMON);
    const drained = await drainCheck(db, ids);
    const { rows } = await sql<{ id: string }>`select (graphile_worker.add_job('stuck', '{}'::json)).id as id`.execute(db);
    const stuckId = rows[0]!.id;
    // Claimed by the daemon (its beat's jobs_in_flight may still count the jobs drained before).
    await waitFor(
      "the stuck job to be running",
      async () => (await withEngineTables(db).selectFrom("graphile_worker.jobs").select("locked_at").where("id", "=", stuckId).executeTakeFirst())?.locked_at,
      30_000,
      100,
    );
    await sleep(500);
    ctrlCIn(second.daemon);
    await second.daemon.process.waitForLog(/^shutting down/, 10_000);
    const forcedAt = Date.now();
    ctrlCIn(second.daemon);
    const forcedCode = await exitWithin(second.daemon.process, FORCED_EXIT_BOUND_MS + 30_000).catch(() => null);
    const forcedMs = since(forcedAt);
    const leftAfterForce = await waitFor("the postmaster to exit", async () => ((await postmasterLeft(dataDir)) === null ? "gone" : null), 15_000, 100).catch(() => null);

    // 3. The record, read from the same data dir with the harness's own server.
    const server = await startEmbeddedPostgres({ dataDir, port, logger: pino({ level: "warn" }) });
    teardown.add(() => server.stop());
    const inFlight = await db
      .selectFrom("pgmill.job_runs")
      .select(["job_id", "status"])
      .where("job_id", "in", ids)
      .where("started_at", "<=", new Date(interruptedAt))
      .where("finished_at", ">=", new Date(interruptedAt))
      .execute();
    const slowInterrupted = slow.filter((id) => inFlight.some((r) => r.job_id === id && r.status === "failed"));
    const stuckRuns = await db.selectFrom("pgmill.job_runs").select(["status", "error_message"]).where("job_id", "=", stuckId).execute();
    const stuckJob = await withEngineTables(db).selectFrom("graphile_worker.jobs").select("locked_at").where("id", "=", stuckId).executeTakeFirst();
    const jobs = await auditJobs(db, ids, [fault]);
    return {
      id: "ctrl-c",
      title: "Ctrl-C in the terminal of a daemon with embedded Postgres",
      size,
      durationMs: since(started),
      setup:
        `1 daemon with no DATABASE_URL (embedded Postgres), concurrency ${concurrency}, drain budget ${drainS} s, in a process group of its own; ` +
        `${slowJobs} jobs of ${slowMs / 1000} s and ${quickJobs} of ${quickMs / 1000} s; SIGINT to the group with every slot busy, then a restarted daemon ` +
        `runs the rest; then SIGINT twice to a daemon draining a job whose handler never settles`,
      jobs,
      recoveries: [
        { what: "exit after Ctrl-C (from the signal)", ms: code === null ? null : exitMs, boundMs: drainS * 1000 + AFTER_DRAIN_MS },
        { what: "exit after a second Ctrl-C (from the second)", ms: forcedCode === null ? null : forcedMs, boundMs: FORCED_EXIT_BOUND_MS },
      ],
      checks: [
        { what: "Ctrl-C: exit code 0", ok: code === 0, detail: `exit ${code ?? "none"}` },
        {
          what: "Ctrl-C: embedded Postgres stopped, and last",
          ok: leftAfterDrain === null && firstLines.at(-1)?.msg === "pgmill daemon stopped" && errors.length === 0,
          detail: `${leftAfterDrain === null ? "no postmaster left" : `postmaster ${leftAfterDrain} still running`}; last line "${String(firstLines.at(-1)?.msg)}"; ${errors.length} error lines${errors.length ? ` (${errors.slice(0, 3).join("; ")})` : ""}, besides graphile-worker's ${engineErrors}`,
        },
        {
          what: "Ctrl-C: the attempts in flight were recorded (slow ones interrupted at the budget, quick ones finished)",
          ok: slowInterrupted.length === slowJobs && inFlight.filter((r) => !slow.includes(r.job_id)).every((r) => r.status === "succeeded"),
          detail: `${inFlight.length} attempts spanned the signal: ${inFlight.map((r) => r.status).join(", ")}`,
        },
        { what: "second Ctrl-C during a stuck drain: exit code 1", ok: forcedCode === 1, detail: `exit ${forcedCode ?? "none"}` },
        { what: "second Ctrl-C: no postmaster left", ok: leftAfterForce !== null, detail: leftAfterForce ? "gone" : `postmaster ${await postmasterLeft(dataDir)} still running` },
        {
          what: "second Ctrl-C: the stuck attempt was recorded and its job released",
          ok: stuckRuns.length === 1 && stuckJob?.locked_at === null,
          detail: `${stuckRuns.map((r) => `${r.status}: ${r.error_message ?? ""}`).join("; ") || "no row"}; ${stuckJob ? (stuckJob.locked_at ? "still locked" : "unlocked") : "gone"}`,
        },
        drained,
      ],
    };
  } finally {
    await teardown.run();
  }
};

/** What a terminal does on Ctrl-C: SIGINT to the foreground process group (the daemon leads its own). */
function ctrlCIn(daemon: ClusterDaemon): void {
  process.kill(-daemon.process.child.pid!, "SIGINT");
}

/** The pid of a postmaster still running on `dataDir`, or null. */
async function postmasterLeft(dataDir: string): Promise<number | null> {
  const text = await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").catch(() => "");
  const pid = Number(text.split("\n")[0]);
  return pid > 0 && processAlive(pid) ? pid : null;
}
