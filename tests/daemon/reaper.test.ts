import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createDaemonEvents } from "../../src/daemon/daemon-events.js";
import { Reaper } from "../../src/daemon/reaper.js";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

const releases: (() => void)[] = [];
const tasks = taskRegistry(
  defineTask({ name: "hold", payload: z.object({}), handler: () => new Promise<void>((resolve) => releases.push(resolve)) }),
);

let db: TestDatabase;
let victim: TestDaemon;
beforeAll(async () => {
  db = await createTestDatabase();
  // A slow heartbeat, so the test can make the daemon look silent without it answering back at once.
  victim = await startTestDaemon(db, tasks, { settings: { PGMILL_HEARTBEAT_INTERVAL: "60", PGMILL_DEAD_AFTER: "180" } });
});

describe("reaper", () => {
  it("reaps a silent daemon exactly once when two reapers race", async () => {
    const ids = await Promise.all([1, 2, 3].map(() => addJobWithSql(db.handle.db, "hold", {}, { maxAttempts: 3 })));
    await waitFor("the jobs to be held", () => releases.length === 3);
    await db.handle.db.updateTable("pgmill.daemons").set({ last_seen: new Date(Date.now() - 3_600_000) }).where("id", "=", victim.daemon.id).execute();

    const reaper = (id: string) => new Reaper(db.handle.db, { id }, 1_000, createDaemonEvents(), pino({ level: "silent" }));
    const [first, second] = await Promise.all([reaper("reaper-1").reap(), reaper("reaper-2").reap()]);
    const results = [first, second].sort((x, y) => y.daemons.length - x.daemons.length);
    expect(results[0]).toEqual({ daemons: [victim.daemon.id], jobs: 3 });
    expect(results[1]).toEqual({ daemons: [], jobs: 0 });

    const lost = await db.handle.db.selectFrom("pgmill.job_runs").select("job_id").where("status", "=", "lost").execute();
    expect(lost.map((r) => r.job_id).sort()).toEqual([...ids].sort());
    // Released (force_unlock sends no NOTIFY, so no pool re-claims them before its next poll).
    const jobs = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select(["locked_by"]).where("id", "in", ids).execute();
    expect(jobs.map((j) => j.locked_by)).toEqual([null, null, null]);
    // Not last attempts: nothing was dead-lettered.
    expect(await db.handle.db.selectFrom("pgmill.dead_letters").selectAll().execute()).toEqual([]);
  });

  it("makes a daemon reaped while alive drop its pool and rejoin under a new id; the reaping stays on record and its late outcomes are stale", async () => {
    const reapedId = victim.daemon.id;
    const lost = await db.handle.db.selectFrom("pgmill.job_runs").select("job_id").where("status", "=", "lost").execute();
    const jobIds = lost.map((r) => r.job_id);
    await victim.daemon.heartbeat.beat();
    expect(victim.daemon.id).not.toBe(reapedId);
    const rows = await db.handle.db.selectFrom("pgmill.daemons").select(["id", "state", "reaped_by"]).orderBy("started_at").execute();
    expect(rows.find((r) => r.id === reapedId)).toMatchObject({ state: "dead", reaped_by: expect.stringMatching(/^reaper-/) });
    expect(rows.find((r) => r.id === victim.daemon.id)).toMatchObject({ state: "running", reaped_by: null });
    expect(victim.logs.lines.some((l) => String(l.msg).startsWith("a peer marked this daemon dead"))).toBe(true);

    // The handlers of the reaped identity finish now: too late to apply.
    for (const release of releases.splice(0, 3)) release();
    await waitFor("the late outcomes to be recorded stale", async () => {
      const stale = await db.handle.db.selectFrom("pgmill.job_runs").select("job_id").where("status", "=", "stale").execute();
      return stale.length === 3;
    });
    // None was completed by them: the jobs are still there, run again by the new identity.
    await waitFor("the new identity to run the jobs again", () => releases.length === 3, 15_000);
    for (const release of releases.splice(0, 3)) release();
    await waitFor("the jobs to succeed once each", async () => {
      const done = await db.handle.db.selectFrom("pgmill.job_runs").select(["job_id", "daemon_id"]).where("status", "=", "succeeded").execute();
      return done.length === 3 && done.every((r) => r.daemon_id === victim.daemon.id);
    });
    const history = await db.handle.db
      .selectFrom("pgmill.job_runs")
      .select(["job_id", "status", "daemon_id"])
      .where("job_id", "in", jobIds)
      .orderBy("job_id")
      .orderBy("finished_at")
      .execute();
    for (const jobId of jobIds) {
      expect(history.filter((r) => r.job_id === jobId).map((r) => [r.status, r.daemon_id === reapedId ? "reaped" : "rejoined"])).toEqual([
        ["lost", "reaped"],
        ["stale", "reaped"],
        ["succeeded", "rejoined"],
      ]);
    }
  });
});
