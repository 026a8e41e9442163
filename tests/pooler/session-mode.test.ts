import { sql } from "kysely";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { openDatabase, type Db } from "../../src/db/database.js";
import { isTransactionPooled } from "../../src/db/transaction-pooler.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { startPgBouncer, type PgBouncer } from "../support/pgbouncer.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

// pgmill behind a real PgBouncer in session mode (Debian's pgbouncer, started
// by the test on loopback): DATABASE_URL alone is enough, no direct URL.

const runs = new Map<string, number>();
const tasks = taskRegistry(
  defineTask({ name: "work", payload: z.object({}), handler: async (_p, { job }) => void runs.set(job.id, (runs.get(job.id) ?? 0) + 1) }),
);

let db: TestDatabase;
let bouncer: PgBouncer;
let app: Db;
beforeAll(async () => {
  db = await createTestDatabase();
  // Two daemons' pools and heartbeats (2 x (10 + 1)) and the application's 4, with room to spare.
  bouncer = await startPgBouncer(inject("adminUrl"), { mode: "session", poolSize: 30 });
  onFileCleanup(() => bouncer.dispose());
  const handle = openDatabase(bouncer.url(db.name), { maxConnections: 4, applicationName: "pgmill-test-app" });
  onFileCleanup(() => handle.close());
  app = handle.db;
});

describe("behind PgBouncer in session mode", () => {
  it("is not taken for transaction pooling", async () => {
    expect(await isTransactionPooled(bouncer.url(db.name))).toBe(false);
  });

  it("runs with DATABASE_URL alone: two daemons run every job once and leave nothing locked", async () => {
    const daemons = [
      await startTestDaemon(db, tasks, { databaseUrl: bouncer.url(db.name) }),
      await startTestDaemon(db, tasks, { databaseUrl: bouncer.url(db.name) }),
    ];
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) ids.push(await addJobWithSql(app, "work", {}));
    await waitFor("every job to finish", async () => {
      const left = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("id").execute();
      return left.length === 0;
    }, 60_000, 100);
    const { rows } = await sql<{ job_id: string; n: number }>`
      select job_id, count(*)::int as n from pgmill.job_runs where status = 'succeeded' group by job_id
    `.execute(db.handle.db);
    expect(rows.map((r) => r.job_id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => r.n === 1)).toBe(true);
    expect(runs.size).toBe(ids.length);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    for (const { daemon } of daemons) expect(daemon.pool.restartCount).toBe(0);
  }, 90_000);
});
