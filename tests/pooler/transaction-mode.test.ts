import { sql } from "kysely";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { openDatabase, type Db } from "../../src/db/database.js";
import { isTransactionPooled, refuseTransactionPooling } from "../../src/db/transaction-pooler.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";
import { defineTask, PermanentError } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { startPgBouncer, type PgBouncer } from "../support/pgbouncer.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { spawnDaemon } from "../support/daemon-process.js";
import { waitFor } from "../support/wait-for.js";

// pgmill behind a real PgBouncer in transaction mode (Debian's pgbouncer,
// started by the test on loopback). One test waits for a real minute boundary
// (the crontab line firing once), so this file takes up to a minute more.

const runs = new Map<string, number>();
const ticks: string[] = [];
const tasks = taskRegistry(
  defineTask({ name: "work", payload: z.object({}), handler: async (_p, { job }) => void runs.set(job.id, (runs.get(job.id) ?? 0) + 1) }),
  defineTask({
    name: "flaky",
    payload: z.object({}),
    maxAttempts: 3,
    handler: async (_p, { job }) => {
      if (job.attempt === 1) throw new Error("first attempts fail");
    },
  }),
  defineTask({ name: "doomed", payload: z.object({}), handler: async () => Promise.reject(new PermanentError("never works")) }),
  defineTask({ name: "tick", payload: z.object({}), handler: async (_p, { job }) => void (job.cron && ticks.push(job.cron.ts)) }),
);

let db: TestDatabase;
let bouncer: PgBouncer;
/** The application's side: enqueueing through the pooler, as the app would. */
let app: Db;
beforeAll(async () => {
  db = await createTestDatabase();
  bouncer = await startPgBouncer(inject("adminUrl"), { mode: "transaction", poolSize: 30 });
  onFileCleanup(() => bouncer.dispose());
  const handle = openDatabase(bouncer.url(db.name), { maxConnections: 4, applicationName: "pgmill-test-app" });
  onFileCleanup(() => handle.close());
  app = handle.db;
});

describe("behind PgBouncer in transaction mode", () => {
  it("is told apart from a direct connection, and refused as PGMILL_DIRECT_URL too", async () => {
    expect(await isTransactionPooled(bouncer.url(db.name))).toBe(true);
    expect(await isTransactionPooled(db.url)).toBe(false);
    const pooled = bouncer.url(db.name);
    const refusal = refuseTransactionPooling({ connectionString: pooled, sessionConnectionString: pooled, direct: true });
    await expect(refusal).rejects.toMatchObject({
      code: "PGMILL_TRANSACTION_POOLER",
      message: expect.stringMatching(/^PGMILL_DIRECT_URL goes through a transaction-mode pooler .*: point it at Postgres itself or at a session-mode pooler; DATABASE_URL may stay pooled$/),
    });
    await expect(refuseTransactionPooling({ connectionString: pooled, sessionConnectionString: db.url, direct: true })).resolves.toBeUndefined();
  });

  it("without PGMILL_DIRECT_URL, a daemon and `pgmill migrate` stop with one line saying what to set", async () => {
    const daemon = await spawnDaemon({ DATABASE_URL: bouncer.url(db.name) });
    expect(await daemon.exited).toBe(2);
    const refusal =
      "pgmill: DATABASE_URL goes through a transaction-mode pooler (the server session changed between statements of one connection): " +
      "set PGMILL_DIRECT_URL to a direct or session-mode connection for LISTEN, locks and migrations, and keep DATABASE_URL pooled\n";
    expect(daemon.stderr()).toBe(refusal);
    const migrate = await runCli(["migrate"], { databaseUrl: bouncer.url(db.name) });
    expect(migrate).toMatchObject({ code: 2, stderr: refusal });
    const direct = await runCli(["migrate", "--direct-url", db.url, "--json"], { databaseUrl: bouncer.url(db.name) });
    expect(direct.code, direct.stderr).toBe(0);
  }, SLOW_CLI_TIMEOUT);

  it("with PGMILL_DIRECT_URL, two daemons run every job once, leave nothing locked or held, and fire a crontab line once", async () => {
    const options = {
      databaseUrl: bouncer.url(db.name),
      crontab: "* * * * * tick ?id=every-minute\n",
      settings: { PGMILL_DIRECT_URL: db.url },
    };
    const daemons: TestDaemon[] = [await startTestDaemon(db, tasks, options), await startTestDaemon(db, tasks, options)];

    const work = await enqueue("work", 300);
    const flaky = await enqueue("flaky", 10);
    const doomed = await enqueue("doomed", 10);
    await waitFor("every job to finish", async () => {
      const left = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("id").where("task_identifier", "!=", "tick").execute();
      return left.length === 0;
    }, 60_000, 100);

    const attempts = await db.handle.db
      .selectFrom("pgmill.job_runs")
      .select(["job_id", "status"])
      .where("task", "in", ["work", "flaky", "doomed"])
      .orderBy("attempt")
      .execute();
    const statuses = (ids: string[]) => ids.map((id) => attempts.filter((a) => a.job_id === id).map((a) => a.status).join(","));
    expect(new Set(statuses(work))).toEqual(new Set(["succeeded"]));
    expect(new Set(statuses(flaky))).toEqual(new Set(["failed,succeeded"]));
    expect(new Set(statuses(doomed))).toEqual(new Set(["dead"]));
    expect([...runs.values()].every((n) => n === 1) && runs.size === work.length).toBe(true);
    const dead = await db.handle.db.selectFrom("pgmill.dead_letters").select("job_id").execute();
    expect(dead.map((d) => d.job_id).sort()).toEqual([...doomed].sort());

    // LISTEN runs on the direct connections only, and no session holds an advisory lock (migrations released theirs).
    const { rows: listeners } = await sql<{ application_name: string }>`
      select application_name from pg_stat_activity where datname = current_database() and query like 'LISTEN%'
    `.execute(db.handle.db);
    expect(listeners).toEqual([{ application_name: "pgmill-listen" }, { application_name: "pgmill-listen" }]);
    const { rows: locks } = await sql<{ n: number }>`
      select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
    `.execute(db.handle.db);
    expect(locks[0]!.n).toBe(0);

    // Nothing the engine sent broke in the pooler: no pool stopped, no prepared statement clashed.
    for (const { daemon, logs } of daemons) {
      expect(daemon.pool.restartCount).toBe(0);
      expect(logs.text()).not.toMatch(/prepared statement/);
    }

    // The crontab line: the next minute's tick, enqueued and run once across both daemons.
    const first = await waitFor("a crontab tick", () => ticks[0], 75_000, 200);
    await waitFor("the tick's job to be gone", async () => {
      const left = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("id").execute();
      return left.length === 0;
    });
    const { rows: tickRuns } = await sql<{ n: number }>`
      select count(*)::int as n from pgmill.job_runs where task = 'tick'
    `.execute(db.handle.db);
    expect(ticks.filter((ts) => ts === first)).toHaveLength(1);
    expect(tickRuns[0]!.n).toBe(ticks.length);
  }, 180_000);
});

/** `count` jobs of `task`, one statement each, through the pooler. */
async function enqueue(task: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(await addJobWithSql(app, task, {}));
  return ids;
}
