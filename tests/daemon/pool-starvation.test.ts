import { sql } from "kysely";
import type pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { serveTestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

const ran: number[] = [];
const tasks = taskRegistry(defineTask({ name: "note", payload: z.object({ n: z.number() }), handler: async ({ n }) => void ran.push(n) }));
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

function metric(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1]);
}

describe("a starved database pool", () => {
  it("does not stop the heartbeat, and shows as metrics and a log line", async () => {
    const { daemon, baseUrl, logs } = await serveTestDaemon(db, tasks, {
      settings: { PGMILL_DB_POOL_SIZE: "4", PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "3" },
    });
    // The series exist from the start. The start-up's services may already
    // have queued briefly for one of four connections: count from here.
    const before = await (await fetch(`${baseUrl}/metrics`)).text();
    const waitsBefore = metric(before, "pgmill_db_pool_waits_total");
    const secondsBefore = metric(before, "pgmill_db_pool_wait_seconds_total");
    expect(Number.isFinite(waitsBefore) && Number.isFinite(secondsBefore)).toBe(true);
    expect(metric(before, "pgmill_db_pool_waiting_clients")).toBe(0);

    // Take every connection of the daemon's pool (LISTEN holds one of the four).
    const pool = daemon.database.pool;
    const hogs: pg.PoolClient[] = [];
    for (let i = 0; i < pool.options.max - 1; i++) hogs.push(await pool.connect());
    const hoggedAt = new Date();
    try {
      // Beats keep landing: the heartbeat has a connection of its own.
      await waitFor("two beats while the pool is taken", async () => {
        const row = await db.handle.db.selectFrom("pgmill.daemons").select("last_seen").where("id", "=", daemon.id).executeTakeFirstOrThrow();
        return row.last_seen.getTime() > hoggedAt.getTime() + 1_000;
      });
      await addJobWithSql(db.handle.db, "note", { n: 1 });
      await waitFor("the engine to queue for a connection", () => pool.waitingCount > 0);
      const during = await (await fetch(`${baseUrl}/metrics`)).text();
      expect(metric(during, "pgmill_db_pool_waiting_clients")).toBeGreaterThan(0);
      // Held past the wait the log calls starvation.
      await new Promise((resolve) => setTimeout(resolve, 1_200));
    } finally {
      for (const hog of hogs) hog.release();
    }
    await waitFor("the job to run", () => ran.includes(1));
    const after = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(metric(after, "pgmill_db_pool_waits_total")).toBeGreaterThan(waitsBefore);
    expect(metric(after, "pgmill_db_pool_wait_seconds_total")).toBeGreaterThan(secondsBefore + 1);
    const line = logs.lines.find((l) => /^database pool starved/.test(String(l.msg)));
    expect(line?.msg).toMatch(/with all PGMILL_DB_POOL_SIZE=4 busy; raise PGMILL_DB_POOL_SIZE \(behind a pooler, its pool too\)$/);
    const { rows } = await sql<{ state: string }>`select state from pgmill.daemons where id = ${daemon.id}`.execute(db.handle.db);
    expect(rows[0]!.state).toBe("running");
  }, 60_000);
});
