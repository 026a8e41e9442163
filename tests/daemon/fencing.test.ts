import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Daemon } from "../../src/daemon/daemon.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { addJobsAtOnce } from "../support/sql-jobs.js";
import { proxiedDatabase, type TcpProxy } from "../support/tcp-proxy.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// A daemon cut off from the database (a partition; a pause looks the same to
// its peers) for longer than dead-after, while it holds one running job and
// more in its local queue. A peer reaps it and runs them. When it comes back,
// it must complete nothing, start nothing it had queued, and rejoin.

const TIMING = { PGMILL_HEARTBEAT_INTERVAL: "0.3", PGMILL_DEAD_AFTER: "2" };
const releases: (() => void)[] = [];
let holdFirst = 1;
const started: string[] = [];
const tasks = taskRegistry(
  defineTask({
    name: "work",
    payload: z.object({}),
    handler: async (_payload, { job }) => {
      started.push(job.id);
      if (holdFirst-- > 0) await new Promise<void>((resolve) => releases.push(resolve));
    },
  }),
);

let db: TestDatabase;
let proxy: TcpProxy;
let cutOff: Daemon;
beforeAll(async () => {
  db = await createTestDatabase();
  const proxied = await proxiedDatabase(db.url);
  proxy = proxied.proxy;
  const settings = { ...TIMING, PGMILL_CONCURRENCY: "1", PGMILL_LOCAL_QUEUE_SIZE: "4" };
  cutOff = (await startTestDaemon(db, tasks, { databaseUrl: proxied.url, settings })).daemon;
});

describe("fencing", () => {
  it("a daemon reaped while cut off completes nothing, starts nothing it had queued, and rejoins under a new id", async () => {
    // One statement, one NOTIFY, one batch fetch: one job to the only worker, three to the local queue.
    const ids = await addJobsAtOnce(db.handle.db, "work", 4);
    await waitFor("the first job to be held", () => releases.length === 1, 10_000);
    const reapedId = cutOff.id;
    await waitFor("all four to be locked by the cut-off daemon", async () => {
      const locked = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("id").where("locked_at", "is not", null).execute();
      return locked.length === 4;
    });

    proxy.cut();
    const peer = await startTestDaemon(db, tasks, { settings: { ...TIMING, PGMILL_CONCURRENCY: "4" } });
    await waitFor("the peer to reap the cut-off daemon and run its jobs", async () => {
      const done = await db.handle.db.selectFrom("pgmill.job_runs").select("job_id").where("status", "=", "succeeded").execute();
      return done.length === 4;
    }, 30_000);

    // Back: the held handler finishes late, and the local queue is still there.
    releases.shift()!();
    proxy.restore();
    await waitFor("the cut-off daemon to rejoin", () => cutOff.id !== reapedId, 15_000);
    await waitFor("its late outcome to be recorded stale", async () => {
      const stale = await db.handle.db.selectFrom("pgmill.job_runs").select("job_id").where("status", "=", "stale").execute();
      return stale.length === 1;
    }, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const history = await db.handle.db
      .selectFrom("pgmill.job_runs")
      .select(["job_id", "status", "daemon_id"])
      .where("job_id", "in", ids)
      .execute();
    const byJob = (id: string) => history.filter((r) => r.job_id === id);
    for (const id of ids) {
      // Each job: released by the reaper (lost), then one success, by the peer.
      expect(byJob(id).filter((r) => r.status === "succeeded").map((r) => r.daemon_id)).toEqual([peer.daemon.id]);
      expect(byJob(id).filter((r) => r.status === "lost")).toHaveLength(1);
    }
    // Only the held job ran on the cut-off daemon, and its outcome was not applied.
    expect(history.filter((r) => r.daemon_id === reapedId).map((r) => r.status).sort()).toEqual(["lost", "lost", "lost", "lost", "stale"]);
    expect(started.filter((id) => id === ids[0])).toHaveLength(2);
    for (const id of ids.slice(1)) expect(started.filter((s) => s === id)).toHaveLength(1);
    const reapedRow = await db.handle.db.selectFrom("pgmill.daemons").select(["state", "reaped_by"]).where("id", "=", reapedId).executeTakeFirstOrThrow();
    expect(reapedRow).toEqual({ state: "dead", reaped_by: peer.daemon.id });
  }, 90_000);
});
