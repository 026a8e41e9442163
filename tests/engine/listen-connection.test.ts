import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

// Guard of src/engine/listen-connection.ts: graphile-worker 0.18 takes its
// LISTEN client with the pgPool.connect() that follows `pool:listen:connecting`.
// With PGMILL_DIRECT_URL set, that client must be a direct one, never one of
// the shared (maybe transaction-pooled) pool's.

const started: string[] = [];
const tasks = taskRegistry(defineTask({ name: "note", payload: z.object({ n: z.number() }), handler: async ({ n }) => void started.push(String(n)) }));
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

describe("LISTEN with PGMILL_DIRECT_URL", () => {
  it("runs on a direct connection of its own (the shared pool's sessions are named pgmill), beside the heartbeat's", async () => {
    await startTestDaemon(db, tasks, { settings: { PGMILL_DIRECT_URL: db.url } });
    const listeners = await waitFor("a session that ran LISTEN", async () => {
      const { rows } = await sql<{ application_name: string }>`
        select application_name from pg_stat_activity where datname = current_database() and query like 'LISTEN "jobs:insert"%'
      `.execute(db.handle.db);
      return rows.length ? rows : null;
    });
    expect(listeners).toEqual([{ application_name: "pgmill-listen" }]);

    await addJobWithSql(db.handle.db, "note", { n: 1 });
    await waitFor("the job to start", () => started.includes("1"));
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'pgmill-heartbeat'
    `.execute(db.handle.db);
    expect(rows[0]!.n).toBe(1);
  });
});
