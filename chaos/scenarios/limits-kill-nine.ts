import { fileURLToPath } from "node:url";
import type { Db } from "../../src/db/database.js";
import { maxOverlap } from "../../tests/support/attempt-timeline.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { Cluster, DEAD_AFTER_S } from "../lib/cluster.js";
import { auditJobs, drainCheck, lockedJobIds, type Fault } from "../lib/job-audit.js";
import { startJobEndpoint } from "../lib/job-endpoint.js";
import { Load } from "../lib/load.js";
import { daemonRow } from "../lib/recovery.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";
import { LIMIT } from "../tasks/limited-http.js";

const TASKS_DIR = fileURLToPath(new URL("../tasks", import.meta.url));
const TASK = "limited-http";
// More than LIMIT jobs of workMs can serve: the task is at its limit throughout.
const SIZES = {
  full: { warmMs: 15_000, afterMs: 45_000, perSecond: 12, workMs: 500 },
  short: { warmMs: 5_000, afterMs: 12_000, perSecond: 16, workMs: 300 },
};

/** The most attempts of `task` that succeeded overlapping in time, among those started after `from`. */
async function maxOverlapAfter(db: Db, task: string, from: number): Promise<number> {
  const runs = await db
    .selectFrom("pgmill.job_runs")
    .select(["started_at", "finished_at"])
    .where("task", "=", task)
    .where("status", "=", "succeeded")
    .where("started_at", ">", new Date(from))
    .execute();
  return maxOverlap(runs);
}

/**
 * kill -9 of one of three daemons while a task with `concurrency` is at its
 * limit: the dead daemon's slots are freed when it is reaped (not before:
 * its attempts counted until the kill ended them), the limit is never
 * exceeded, counted where the work happens, and is reached again after.
 */
export const limitsKillNine: Scenario = async (adminUrl, size) => {
  const { warmMs, afterMs, perSecond, workMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "limits_kill_nine", teardown);
    const endpoint = await startJobEndpoint();
    teardown.add(() => endpoint.close());
    const cluster = new Cluster(url, { PGMILL_TASKS: TASKS_DIR });
    teardown.add(() => cluster.stopAll());
    await cluster.start(3);
    const load = new Load(db, endpoint.url(workMs), perSecond, TASK);
    teardown.add(() => load.stop());
    load.start();
    await sleep(warmMs);

    // The victim: a daemon holding slots right now (the one with the most).
    const rows = await Promise.all(cluster.daemons.map((d) => daemonRow(db, d)));
    const { victim, row, victimSlots } = await waitFor("a daemon to hold slots", async () => {
      const slots = await db.selectFrom("pgmill.task_slots").select(["job_id", "daemon_id"]).execute();
      const most = rows
        .map((r, i) => ({ victim: cluster.daemons[i]!, row: r, victimSlots: slots.filter((s) => s.daemon_id === r.id) }))
        .sort((a, b) => b.victimSlots.length - a.victimSlots.length)[0]!;
      return most.victimSlots.length ? most : null;
    }, 10_000, 20);
    victim.process.child.kill("SIGKILL");
    const killedAt = Date.now();
    await victim.process.exited;
    const held = await lockedJobIds(db, row.worker_ids);
    const fault: Fault = { label: "kill -9 at the limit", startedAt: killedAt, endedAt: killedAt, locked: held };
    await waitFor("the victim to be reaped", async () => (await daemonRow(db, victim)).state === "dead", (DEAD_AFTER_S + 30) * 1000, 200);
    const reapedAt = Date.now();
    await sleep(Math.max(0, afterMs - since(killedAt)));
    await load.stop();
    const drained = await drainCheck(db, load.ids);
    const jobs = await auditJobs(db, load.ids, [fault]);
    const slotsLeft = await db.selectFrom("pgmill.task_slots").select("job_id").where("daemon_id", "=", row.id).execute();
    const afterRecovery = await maxOverlapAfter(db, TASK, reapedAt);
    const atEndpoint = endpoint.maxInFlight();
    return {
      id: "limits-kill-nine",
      title: "kill -9 of a daemon while a limited task is at its limit",
      size,
      durationMs: since(started),
      setup: `3 daemons, task \`${TASK}\` with concurrency ${LIMIT} (a tasks directory), ${perSecond} jobs/s of ${workMs} ms (more than the limit serves); kill -9 after ${warmMs / 1000} s (the victim held ${victimSlots.length} slots and ${held.size} jobs), load kept ${afterMs / 1000} s after`,
      jobs,
      recoveries: [],
      checks: [
        { what: `the limit was never exceeded: at most ${LIMIT} attempts at once at the job endpoint`, ok: atEndpoint <= LIMIT, detail: `at most ${atEndpoint} at once` },
        { what: "the victim held slots when killed (the task was at its limit)", ok: victimSlots.length > 0, detail: `${victimSlots.length} slots` },
        { what: "the victim's slots were freed", ok: slotsLeft.length === 0, detail: `${slotsLeft.length} left` },
        { what: `after recovery the limit holds and is reached (${LIMIT} succeeded attempts overlapping)`, ok: afterRecovery === LIMIT, detail: `at most ${afterRecovery} overlapping` },
        drained,
        cluster.exitCheck("no survivor exited"),
      ],
    };
  } finally {
    await teardown.run();
  }
};
