import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createClient, defineTask, PgmillError, runDaemon, type DaemonHandle, type TaskContext } from "../../src/index.js";
import { captureLogs } from "../support/log-capture.js";
import { addJobWithSql, runsOf } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// pgmill as a library: a daemon inside the test's own process, running tasks
// defined here, with the database and follow-up jobs handlers are given.

let db: TestDatabase;
let crontab: string;
const seen: { keys: string[]; settings: string; applicationName: string }[] = [];
let releaseHogs: () => void = () => undefined;
const hogsReleased = new Promise<void>((resolve) => (releaseHogs = resolve));

const record = defineTask({
  name: "record",
  payload: z.object({ n: z.number().int(), followUp: z.boolean().default(false) }),
  handler: async ({ n, followUp }, context: TaskContext) => {
    const applicationName = await context.withPgClient(async (client) => {
      await client.query("insert into visits (n) values ($1)", [n]);
      const { rows } = await client.query<{ name: string }>("select current_setting('application_name') as name");
      return rows[0]!.name;
    });
    seen.push({ keys: Object.keys(context).sort(), settings: JSON.stringify(context.settings), applicationName });
    if (followUp) await context.addJob("record", { n: n + 1000 });
  },
});

/** Holds a handlers' connection until the test lets go. */
const hog = defineTask({
  name: "hog",
  payload: z.object({}),
  handler: (_, { withPgClient }) => withPgClient(() => hogsReleased),
});

const noop = defineTask({ name: "noop", payload: z.object({}), handler: async () => undefined });

const slow = defineTask({
  name: "slow",
  payload: z.object({}),
  handler: () => new Promise<void>((resolve) => setTimeout(resolve, 500)),
});

let daemon: DaemonHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  await sql`create table visits (n integer not null)`.execute(db.handle.db);
  crontab = path.join(await mkdtemp(path.join(os.tmpdir(), "pgmill-library-")), "crontab");
  await writeFile(crontab, "");
  daemon = await runDaemon({
    databaseUrl: db.url,
    crontab,
    tasks: [record, hog, noop],
    concurrency: 8,
    taskPoolSize: 1,
    heartbeatInterval: 1,
    deadAfter: 5,
    logger: captureLogs("warn").logger,
  });
});

afterAll(async () => {
  releaseHogs();
  await daemon?.stop();
});

describe("runDaemon", () => {
  it("runs the user's tasks with a database connection of their own and addJob, and no credentials in the context", async () => {
    const id = await addJobWithSql(db.handle.db, "record", { n: 1, followUp: true });
    await waitFor("the follow-up job's row", async () => {
      const { rows } = await sql<{ n: number }>`select n from visits order by n`.execute(db.handle.db);
      return rows.length === 2 && rows;
    });
    const { rows } = await sql<{ n: number }>`select n from visits order by n`.execute(db.handle.db);
    expect(rows.map((r) => r.n)).toEqual([1, 1001]);
    expect((await runsOf(db.handle.db, id)).map((r) => r.status)).toEqual(["succeeded"]);

    expect(seen[0]!.keys).toEqual(["addJob", "job", "logger", "settings", "signal", "withPgClient"]);
    expect(seen[0]!.applicationName).toBe("pgmill-tasks");
    expect(JSON.parse(seen[0]!.settings)).toEqual({ httpAllowedHosts: null, concurrency: 8, shutdownTimeoutMs: 30_000 });
    const { password, username, host } = new URL(db.url);
    for (const secret of [db.url, host, password, username].filter(Boolean)) expect(seen[0]!.settings).not.toContain(secret);
  });

  it("keeps handlers on their own pool: handlers waiting for it do not hold up claiming, completions or history", async () => {
    // taskPoolSize 1: the first hog holds the handlers' only connection, the second waits for it.
    const hogs = [await addJobWithSql(db.handle.db, "hog", {}), await addJobWithSql(db.handle.db, "hog", {})];
    await waitFor("both hogs running", async () => {
      const { rows } = await sql<{ n: string }>`
        select count(*) as n from pgmill.job_runs where job_id = any(${hogs}::bigint[])`.execute(db.handle.db);
      const locked = await sql<{ n: string }>`
        select count(*) as n from graphile_worker.jobs where id = any(${hogs}::bigint[]) and locked_at is not null`.execute(db.handle.db);
      return rows[0]!.n === "0" && locked.rows[0]!.n === "2";
    });
    const noops = await Promise.all(Array.from({ length: 20 }, () => addJobWithSql(db.handle.db, "noop", {})));
    await waitFor("20 noop jobs recorded as succeeded", async () => {
      const { rows } = await sql<{ n: string }>`
        select count(*) as n from pgmill.job_runs where job_id = any(${noops}::bigint[]) and status = 'succeeded'`.execute(db.handle.db);
      return rows[0]!.n === "20";
    });
    const { rows: connections } = await sql<{ application_name: string; n: string }>`
      select application_name, count(*) as n from pg_stat_activity
      where datname = current_database() and application_name = 'pgmill-tasks' group by 1`.execute(db.handle.db);
    expect(connections).toEqual([{ application_name: "pgmill-tasks", n: "1" }]);
    releaseHogs();
    await waitFor("both hogs done", async () => {
      const { rows } = await sql<{ n: string }>`
        select count(*) as n from pgmill.job_runs where job_id = any(${hogs}::bigint[]) and status = 'succeeded'`.execute(db.handle.db);
      return rows[0]!.n === "2";
    });
  });

  it("refuses a task whose name a built-in task has, and options it does not know, before touching the database", async () => {
    const clash = defineTask({ name: "http", payload: z.object({}), handler: async () => undefined });
    await expect(runDaemon({ databaseUrl: "postgres://nobody@127.0.0.1:1/none", tasks: [clash] })).rejects.toMatchObject({
      code: "PGMILL_INVALID_TASKS",
      message: expect.stringContaining("tasks[0]: task 'http' is a built-in task"),
    });
    await expect(runDaemon({ databaseUrl: "postgres://nobody@127.0.0.1:1/none", ...{ concurency: 2 } })).rejects.toMatchObject({
      code: "PGMILL_INVALID_CONFIG",
      message: expect.stringContaining("concurency: not a pgmill setting"),
    });
  });

  it("serves probes only when asked to", async () => {
    expect(daemon.probePort).toBeNull();
    const withProbes = await runDaemon({
      databaseUrl: db.url,
      crontab,
      tasks: [noop],
      probeServer: true,
      httpPort: 0,
      logger: captureLogs("warn").logger,
    });
    try {
      expect(withProbes.probePort).toBeGreaterThan(0);
      await waitFor("/readyz 200", async () => (await fetch(`http://127.0.0.1:${withProbes.probePort}/readyz`)).status === 200);
    } finally {
      await withProbes.stop();
    }
  });
});

describe("createClient", () => {
  it("enqueues the user's tasks, typed and validated, and the daemon runs them", async () => {
    const client = await createClient({ connectionString: db.url, tasks: [record] });
    try {
      const job = await client.addJob("record", { n: 7 }, { maxAttempts: 2 });
      expect(job).toMatchObject({ task: "record", maxAttempts: 2, queue: null });
      // @ts-expect-error: `n` must be a number, which the types say too.
      const refused = client.addJob("record", { n: "seven" });
      await expect(refused).rejects.toBeInstanceOf(PgmillError);
      await expect(refused).rejects.toMatchObject({ code: "PGMILL_INVALID_PAYLOAD", message: expect.stringMatching(/n\b/) });
      await waitFor("job 7 recorded", async () => (await runsOf(db.handle.db, job.id)).some((r) => r.status === "succeeded"));
    } finally {
      await client.close();
    }
  });
});

describe("stop()", () => {
  it("drains as SIGTERM does: a running job finishes and is recorded before stop() resolves", async () => {
    const second = await runDaemon({ databaseUrl: db.url, crontab, tasks: [slow], logger: captureLogs("warn").logger });
    const id = await addJobWithSql(db.handle.db, "slow", {});
    await waitFor("the slow job to be locked", async () => {
      const { rows } = await sql<{ locked: boolean }>`
        select locked_at is not null as locked from graphile_worker.jobs where id = ${id}::bigint`.execute(db.handle.db);
      return rows[0]?.locked;
    });
    await second.stop();
    const runs = await runsOf(db.handle.db, id);
    expect(runs.map((r) => r.status)).toContain("succeeded");
    const { rows } = await sql<{ state: string }>`select state from pgmill.daemons where id = ${second.daemonId}`.execute(db.handle.db);
    expect(rows).toEqual([{ state: "stopped" }]);
  });
});
