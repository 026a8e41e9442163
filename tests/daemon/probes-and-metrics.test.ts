import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { loadConfig } from "../../src/config/config.js";
import { serveDaemon, type ServedDaemon } from "../../src/app/serve.js";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { captureLogs } from "../support/log-capture.js";
import { freePort } from "../support/postgres-server.js";
import { addJobWithSql, runsOf } from "../support/sql-jobs.js";
import { proxiedDatabase, type TcpProxy } from "../support/tcp-proxy.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

let release: () => void = () => undefined;
const tasks = taskRegistry(
  defineTask({ name: "ok", payload: z.object({}), handler: async () => undefined }),
  defineTask({ name: "boom", payload: z.object({}), handler: async () => Promise.reject(new Error("boom")) }),
  defineTask({
    name: "hold",
    payload: z.object({}),
    handler: () => new Promise<void>((resolve) => (release = resolve)),
  }),
);

let db: TestDatabase;
let proxy: TcpProxy;
let served: ServedDaemon;
let port: number;
const probeLog: { path: string; status: number; at: number }[] = [];

async function probe(pathname: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`);
  const body = await response.text();
  probeLog.push({ path: pathname, status: response.status, at: Date.now() });
  return { status: response.status, body };
}

beforeAll(async () => {
  db = await createTestDatabase();
  const proxied = await proxiedDatabase(db.url);
  proxy = proxied.proxy;
  port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-probes-"));
  await writeFile(path.join(dir, "crontab"), "");
  const config = loadConfig(
    {
      DATABASE_URL: proxied.url,
      PGMILL_CRONTAB: path.join(dir, "crontab"),
      PGMILL_HTTP_PORT: String(port),
      PGMILL_HEARTBEAT_INTERVAL: "0.3",
      PGMILL_DEAD_AFTER: "5",
      PGMILL_CONCURRENCY: "4",
    },
    {},
  );
  // Probe from before the server exists until the daemon is up: start-up must read 503.
  let starting = true;
  const poller = (async () => {
    while (starting) {
      await probe("/readyz").catch(() => undefined);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  served = await serveDaemon(config, captureLogs().logger, tasks);
  starting = false;
  await poller;
  onFileCleanup(() => served.shutdown());
});

describe("probes", () => {
  it("answers readiness 503 through start-up, then 200, each check named", async () => {
    const statuses = probeLog.filter((p) => p.path === "/readyz").map((p) => p.status);
    expect(statuses).toContain(503);
    const ready = await waitFor("readiness", async () => ((await probe("/readyz")).status === 200 ? probe("/readyz") : null));
    expect(JSON.parse(ready.body)).toMatchObject({
      status: "ok",
      checks: { daemon: { ok: true }, database: { ok: true }, migrations: { ok: true }, pool: { ok: true } },
    });
    const live = await probe("/livez");
    expect(live.status).toBe(200);
    expect(JSON.parse(live.body).checks).toMatchObject({ heartbeat_loop: { ok: true }, event_loop: { ok: true } });
    expect((await probe("/nope")).status).toBe(404);
  });

  it("keeps liveness 200 while the database is black-holed (connections hang), readiness 503", async () => {
    proxy.freeze();
    const down = await waitFor("readiness to fail", async () => {
      const r = await probe("/readyz");
      return r.status === 503 ? r : null;
    });
    expect(JSON.parse(down.body).checks.database.ok).toBe(false);
    // Well past three heartbeat intervals with every query hanging.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 400));
      expect((await probe("/livez")).status).toBe(200);
    }
    proxy.restore();
    await waitFor("readiness to recover", async () => (await probe("/readyz")).status === 200, 30_000);
  });

  it("turns readiness to 503 while the database is away and back to 200 after, liveness 200 throughout", async () => {
    proxy.cut();
    const down = await waitFor("readiness to fail", async () => {
      const r = await probe("/readyz");
      return r.status === 503 ? r : null;
    });
    expect(JSON.parse(down.body).checks.database.ok).toBe(false);
    expect((await probe("/livez")).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await probe("/livez")).status).toBe(200);
    proxy.restore();
    await waitFor("readiness to recover", async () => (await probe("/readyz")).status === 200, 30_000);
    expect((await probe("/livez")).status).toBe(200);
    // And jobs run again.
    const jobId = await addJobWithSql(db.handle.db, "ok", {});
    // (An outage at start-up wedges graphile-worker's pool; the supervisor's watchdog restarts it.)
    await waitFor("a job after the outage", async () => (await runsOf(db.handle.db, jobId)).length === 1, 60_000, 200);
  }, 100_000);
});

describe("metrics", () => {
  it("moves as jobs run, pre-initialises every task's series, and passes promtool check metrics", async () => {
    const before = (await probe("/metrics")).body;
    expect(before).toContain('pgmill_attempts_finished_total{task="boom",outcome="dead"} 0');
    expect(before).toContain('pgmill_queue_jobs{task="hold",state="ready"} 0');
    expect(before).toContain("pgmill_pool_concurrency 4");
    expect(before).toMatch(/^process_cpu_seconds_total /m);

    const ok = await addJobWithSql(db.handle.db, "ok", {});
    const boom = await addJobWithSql(db.handle.db, "boom", {}, { maxAttempts: 1 });
    await waitFor("both jobs", async () => (await runsOf(db.handle.db, ok)).length + (await runsOf(db.handle.db, boom)).length === 2);
    const value = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
    const after = (await probe("/metrics")).body;
    const okSeries = 'pgmill_attempts_finished_total{task="ok",outcome="succeeded"}';
    expect(value(after, okSeries)).toBeGreaterThan(value(before, okSeries));
    expect(value(after, 'pgmill_attempts_finished_total{task="boom",outcome="dead"}')).toBe(1);
    expect(value(after, 'pgmill_dead_letters_moved_total{task="boom",reason="max_attempts"}')).toBe(1);
    expect(value(after, 'pgmill_attempt_duration_seconds_count{task="ok",outcome="succeeded"}')).toBeGreaterThan(0);
    expect(value(after, "pgmill_ledger_batch_rows_count")).toBeGreaterThan(0);
    expect(value(after, "pgmill_database_up")).toBe(1);

    // Database-wide gauges come from the cached snapshot (refreshed every 5 s).
    const held = await addJobWithSql(db.handle.db, "hold", {});
    await waitFor("the hold job to start", async () => (await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("locked_at").where("id", "=", held).executeTakeFirst())?.locked_at);
    const running = await waitFor("the running gauge", async () => {
      const text = (await probe("/metrics")).body;
      return value(text, 'pgmill_queue_jobs{task="hold",state="running"}') === 1 ? text : null;
    }, 15_000, 500);
    expect(value(running, "pgmill_jobs_in_flight")).toBe(1);
    expect(value(running, 'pgmill_dead_letters{task="boom"}')).toBe(1);
    expect(value(running, "pgmill_daemons_live")).toBe(1);

    expect(value(running, "pgmill_jobs_without_handler")).toBe(0);

    release();
    // Once the task has no jobs left it reads 0 again, not its last value.
    await waitFor("the running gauge to drop", async () => value((await probe("/metrics")).body, 'pgmill_queue_jobs{task="hold",state="running"}') === 0, 15_000, 500);
    const { stdout, stderr } = await promisify(execFile)("sh", ["-c", "promtool check metrics < \"$0\"", await saved(running)]).catch(
      (error: { stdout: string; stderr: string }) => error,
    );
    expect(`${stdout}${stderr}`.trim()).toBe("");
  }, 60_000);

  it("reads readiness 503 during a drain", async () => {
    const held = await addJobWithSql(db.handle.db, "hold", {});
    await waitFor("the hold job to start", async () => (await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("locked_at").where("id", "=", held).executeTakeFirst())?.locked_at);
    const stopping = served.shutdown();
    const draining = await waitFor("readiness to fail", async () => {
      const r = await probe("/readyz");
      return r.status === 503 ? r : null;
    });
    expect(JSON.parse(draining.body).checks.daemon).toEqual({ ok: false, detail: "draining" });
    expect((await probe("/livez")).status).toBe(200);
    release();
    await stopping;
    expect((await runsOf(db.handle.db, held))[0]?.status).toBe("succeeded");
  });
});

async function saved(text: string): Promise<string> {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), "pgmill-metrics-")), "metrics.txt");
  await writeFile(file, text);
  return file;
}
