import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Daemon } from "../../src/daemon/daemon.js";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { proxiedDatabase, type TcpProxy } from "../support/tcp-proxy.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

const tasks = taskRegistry(defineTask({ name: "noop", payload: z.object({}), handler: async () => undefined }));
const DEAD_AFTER_S = 3;

let db: TestDatabase;
let proxy: TcpProxy;
let daemon: Daemon;
beforeAll(async () => {
  db = await createTestDatabase();
  const proxied = await proxiedDatabase(db.url);
  proxy = proxied.proxy;
  const settings = { PGMILL_HEARTBEAT_INTERVAL: "0.2", PGMILL_DEAD_AFTER: String(DEAD_AFTER_S) };
  daemon = (await startTestDaemon(db, tasks, { databaseUrl: proxied.url, settings })).daemon;
});

/** A peer's row as a live daemon that could not beat through an outage leaves it: running, last seen long ago. */
async function silentPeer(id: string): Promise<void> {
  await db.handle.db
    .insertInto("pgmill.daemons")
    .values({ id, host: "elsewhere", pid: 1, version: "test", worker_ids: [], state: "running", jobs_in_flight: 0 })
    .execute();
  await sql`update pgmill.daemons set last_seen = now() - interval '1 hour' where id = ${id}`.execute(db.handle.db);
}

const stateOf = async (id: string) =>
  (await db.handle.db.selectFrom("pgmill.daemons").select("state").where("id", "=", id).executeTakeFirstOrThrow()).state;

describe("reaping evidence", () => {
  it("reaps a silent peer only after its own beats have succeeded without a gap for dead-after, outage or not", async () => {
    await waitFor("the daemon's beats to be steady", () => daemon.lease.steadyForMs() >= DEAD_AFTER_S * 1000, 15_000);
    proxy.cut();
    await waitFor("a beat to fail", () => daemon.lease.steadyForMs() === 0, 10_000);
    await silentPeer("peer-through-the-outage");
    const reapedAt: number[] = [];
    daemon.events.once("reaped", () => reapedAt.push(daemon.lease.steadyForMs()));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    proxy.restore();
    const restored = performance.now();

    await waitFor("the peer to be reaped", async () => (await stateOf("peer-through-the-outage")) === "dead", 20_000);
    // By this daemon's own clock: a full dead-after of steady beats since the database came back.
    expect(reapedAt[0]).toBeGreaterThanOrEqual(DEAD_AFTER_S * 1000);
    expect(performance.now() - restored).toBeGreaterThanOrEqual(DEAD_AFTER_S * 1000);
  }, 60_000);

  it("keeps beating while a reap is stuck: a slow reap never delays last_seen", async () => {
    await silentPeer("peer-locked-by-someone");
    const seen = async () =>
      (await db.handle.db.selectFrom("pgmill.daemons").select("last_seen").where("id", "=", daemon.id).executeTakeFirstOrThrow()).last_seen;
    // Hold the peer's row: the reaper's UPDATE waits on it for as long as this transaction lasts.
    await db.handle.db.transaction().execute(async (trx) => {
      await sql`select 1 from pgmill.daemons where id = 'peer-locked-by-someone' for update`.execute(trx);
      await waitFor("a reap to be stuck on the row", async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity
           where wait_event_type = 'Lock' and query like '%pgmill%daemons%' and datname = current_database()
        `.execute(db.handle.db);
        return rows[0]!.n > 0;
      }, 15_000);
      const before = await seen();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect((await seen()).getTime()).toBeGreaterThan(before.getTime());
      expect(await stateOf("peer-locked-by-someone")).toBe("running");
    });
    await waitFor("the peer to be reaped once the lock is gone", async () => (await stateOf("peer-locked-by-someone")) === "dead", 15_000);
  }, 60_000);
});
