import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { waitFor } from "../../tests/support/wait-for.js";
import { Cluster, isReady, type ClusterDaemon } from "../lib/cluster.js";
import { auditJobs, drainCheck } from "../lib/job-audit.js";
import { startJobEndpoint } from "../lib/job-endpoint.js";
import { Load } from "../lib/load.js";
import { scenarioDatabase, since, sleep, Teardown, type Check, type Scenario } from "../lib/scenario.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

/** How long each broken state lasts: in full, the three of them span at least two minute boundaries. */
const SIZES = { full: { holdMs: 45_000 }, short: { holdMs: 2_000 } };
const LINE = `* * * * * log-message ?id=tick {message: "tick"}\n`;
const MINUTE_MS = 60_000;
/** After a tick, how long its job may take to be enqueued and run. */
const SETTLE_MS = 15_000;
/** The watcher's debounce plus a margin. */
const NOTICE_MS = 10_000;

interface Breakage {
  readonly what: string;
  /** Replaces the crontab file at `file` with something unreadable. */
  readonly apply: (file: string) => Promise<unknown>;
  readonly log: RegExp;
  /** The cause the log line must name; null for a missing file (the message says it). */
  readonly cause: string | null;
}

const BREAKAGES: readonly Breakage[] = [
  { what: "replaced by a directory", apply: (file) => mkdir(file), log: /^cannot read the crontab/, cause: "EISDIR" },
  { what: "replaced by a symlink to itself", apply: (file) => symlink(path.basename(file), file), log: /^cannot read the crontab/, cause: "ELOOP" },
  { what: "deleted", apply: async () => undefined, log: /^crontab file is gone/, cause: null },
];

/**
 * A daemon's crontab file replaced by a directory, then by a looping
 * symlink, then deleted, then restored: each read failure is logged with the
 * path and the cause, the daemon stays up and keeps the schedule it had
 * (its every-minute tick is still enqueued once a minute), and it picks the
 * file up again once it is back.
 */
export const crontabReadError: Scenario = async (adminUrl, size) => {
  const { holdMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "crontab_error", teardown);
    const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-chaos-crontab-"));
    teardown.add(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, "crontab");
    await writeFile(file, LINE);
    const endpoint = await startJobEndpoint();
    teardown.add(() => endpoint.close());
    const cluster = new Cluster(url, { PGMILL_CRONTAB: file });
    teardown.add(() => cluster.stopAll());
    await cluster.start(1);
    const daemon = cluster.daemons[0]!;
    const runningAt = Number((await daemon.process.waitForLog("pgmill daemon running")).time);
    // Jobs to run throughout, so the daemon is seen at work, not just up.
    const load = new Load(db, endpoint.url(200), 5);
    teardown.add(() => load.stop());
    load.start();

    const checks: Check[] = [];
    const upAndReady: string[] = [];
    const brokenAt = Date.now();
    for (const breakage of BREAKAGES) {
      const from = daemon.process.lines.length;
      await rm(file, { recursive: true, force: true });
      await breakage.apply(file);
      const line = await nextLog(daemon, from, breakage.log);
      const cause = String(line?.cause ?? "");
      checks.push({
        what: `crontab ${breakage.what}: logged with its path${breakage.cause ? " and cause" : ""}, previous schedule kept`,
        ok: line !== null && line.file === file && line.lines === 1 && (breakage.cause === null || cause.startsWith(breakage.cause)),
        detail: line ? `${String(line.msg)} (file ${String(line.file)}${cause ? `, cause ${cause}` : ""}, ${String(line.lines)} line kept)` : "no log line",
      });
      await sleep(holdMs);
      upAndReady.push(`${breakage.what}: ${daemon.process.child.exitCode === null ? "up" : "exited"}, ${(await isReady(daemon)) ? "ready" : "not ready"}`);
    }
    const from = daemon.process.lines.length;
    await writeFile(file, LINE);
    const restoredAt = Date.now();
    const readAgain = await nextLog(daemon, from, /^crontab file is readable again/);
    checks.push({ what: "crontab restored: read again, schedule unchanged", ok: readAgain !== null, detail: readAgain ? String(readAgain.msg) : "no log line" });
    const reloads = daemon.process.lines.filter((l) => /^crontab reloaded/.test(String(l.msg)));
    checks.push({ what: "no schedule was replaced along the way", ok: reloads.length === 0, detail: `${reloads.length} reloads` });
    checks.push({
      what: "the daemon stayed up and ready throughout",
      ok: upAndReady.every((s) => s.endsWith("up, ready")),
      detail: upAndReady.join("; "),
    });

    // Full: the tick after the restore as well. Every boundary from start-up on must have its job.
    if (size === "full") await sleep(Math.ceil(Date.now() / MINUTE_MS) * MINUTE_MS + SETTLE_MS - Date.now());
    await load.stop();
    const drained = await drainCheck(db, load.ids);
    await waitFor(
      "the cron jobs to run",
      async () => !(await withEngineTables(db).selectFrom("graphile_worker.jobs").select("id").where("task_identifier", "=", "log-message").executeTakeFirst()),
      60_000,
      500,
    );
    const { rows } = await sql<{ job_id: string; tick: string }>`
      select distinct job_id::text, payload->'_cron'->>'ts' as tick from pgmill.job_runs where task = 'log-message'
    `.execute(db);
    const ticks = rows.map((r) => new Date(r.tick).getTime());
    // Boundaries with the daemon surely running, up to the last one whose job has had time to run.
    const expected: number[] = [];
    for (let t = Math.ceil((runningAt + 2_000) / MINUTE_MS) * MINUTE_MS; t + SETTLE_MS <= Date.now(); t += MINUTE_MS) expected.push(t);
    const missing = expected.filter((t) => !ticks.includes(t));
    const twice = [...new Set(ticks.filter((t, i) => ticks.indexOf(t) !== i))];
    const whileBroken = expected.filter((t) => t > brokenAt && t < restoredAt).length;
    checks.push({
      what: "the every-minute tick was enqueued once a minute, broken file or not",
      ok: missing.length === 0 && twice.length === 0 && (size === "short" || whileBroken >= 2),
      detail:
        `${expected.length} boundaries (${whileBroken} while the file was broken), ` +
        `${missing.length ? `missing ${missing.map((t) => new Date(t).toISOString()).join(", ")}` : "none missing"}` +
        `${twice.length ? `, twice: ${twice.map((t) => new Date(t).toISOString()).join(", ")}` : ""}`,
    });
    const jobs = await auditJobs(db, [...load.ids, ...rows.map((r) => r.job_id)], []);
    return {
      id: "crontab-read-error",
      title: "the crontab file replaced by a directory, a looping symlink, then deleted",
      size,
      durationMs: since(started),
      setup:
        `1 daemon with a crontab of one \`* * * * *\` line and 5 jobs/s of 200 ms; the file replaced by a directory (EISDIR), ` +
        `a symlink to itself (ELOOP), then deleted, ${holdMs / 1000} s each, then restored`,
      jobs,
      recoveries: [],
      checks: [...checks, drained, cluster.exitCheck()],
    };
  } finally {
    await teardown.run();
  }
};

/** The first log line matching `message` after the first `from` lines, or null within NOTICE_MS. */
function nextLog(daemon: ClusterDaemon, from: number, message: RegExp): Promise<Record<string, unknown> | null> {
  return waitFor(`log line ${String(message)}`, () => daemon.process.lines.slice(from).find((l) => message.test(String(l.msg))), NOTICE_MS).catch(() => null);
}
