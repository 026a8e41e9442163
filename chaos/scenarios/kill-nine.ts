import { waitFor } from "../../tests/support/wait-for.js";
import { Cluster, DEAD_AFTER_S } from "../lib/cluster.js";
import { auditJobs, drainCheck, lockedJobIds, type Fault } from "../lib/job-audit.js";
import { startLoadedCluster } from "../lib/loaded-cluster.js";
import { daemonRow } from "../lib/recovery.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";

const SIZES = {
  full: { warmMs: 20_000, afterMs: 90_000, perSecond: 30, workMs: 500 },
  short: { warmMs: 5_000, afterMs: 12_000, perSecond: 20, workMs: 300 },
};

/** kill -9 of one of three daemons at load: a survivor reaps it and its jobs rerun within dead-after + 60 s. */
export const killNine: Scenario = async (adminUrl, size) => {
  const { warmMs, afterMs, perSecond, workMs } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "kill_nine", teardown);
    const { cluster, load } = await startLoadedCluster(url, db, teardown, { perSecond, workMs });
    await sleep(warmMs);

    const victim = cluster.daemons[0]!;
    const row = await daemonRow(db, victim);
    victim.process.child.kill("SIGKILL");
    const killedAt = Date.now();
    await victim.process.exited;
    // Frozen now: what the dead daemon held until a survivor reaps it.
    const held = await lockedJobIds(db, row.worker_ids);
    const heldIds = [...held];
    const fault: Fault = { label: "kill -9", startedAt: killedAt, endedAt: killedAt, locked: held };

    const boundMs = (DEAD_AFTER_S + 60) * 1000;
    let recoveredMs: number | null = null;
    await waitFor(
      "the killed daemon's jobs to succeed elsewhere",
      async () => {
        if (!heldIds.length) return true;
        const done = await db
          .selectFrom("pgmill.job_runs")
          .select("job_id")
          .distinct()
          .where("status", "=", "succeeded")
          .where("job_id", "in", heldIds)
          .where("started_at", ">", new Date(killedAt))
          .execute();
        return done.length === heldIds.length;
      },
      boundMs + 30_000,
      200,
    ).then(
      () => (recoveredMs = since(killedAt)),
      () => undefined,
    );
    await sleep(Math.max(0, afterMs - since(killedAt)));
    await load.stop();
    const drained = await drainCheck(db, load.ids);

    const reaped = await daemonRow(db, victim);
    const jobs = await auditJobs(db, load.ids, [fault]);
    return {
      id: "kill-nine",
      title: "kill -9 of one of three daemons at load",
      size,
      durationMs: since(started),
      setup: `3 daemons (concurrency 8, dead-after ${DEAD_AFTER_S} s), ${perSecond} jobs/s of ${workMs} ms; kill -9 after ${warmMs / 1000} s, load kept ${afterMs / 1000} s after; the victim held ${heldIds.length} jobs`,
      jobs,
      recoveries: [{ what: "the victim's jobs rerun and succeed (from the kill)", ms: recoveredMs, boundMs }],
      checks: [
        { what: "a survivor marked the victim dead", ok: reaped.state === "dead" && reaped.reaped_by !== null, detail: `state ${reaped.state}` },
        drained,
        cluster.exitCheck("no survivor exited"),
      ],
    };
  } finally {
    await teardown.run();
  }
};
