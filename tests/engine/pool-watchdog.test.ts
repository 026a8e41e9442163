import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { loadConfig } from "../../src/config/config.js";
import { createDaemonEvents } from "../../src/daemon/daemon-events.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { captureLogs } from "../support/log-capture.js";
import { addJobWithSql, runsOf } from "../support/sql-jobs.js";
import { proxiedDatabase } from "../support/tcp-proxy.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

const tasks = taskRegistry(defineTask({ name: "ok", payload: z.object({}), handler: async () => undefined }));
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

describe("pool watchdog", () => {
  it("restarts a pool wedged by a database outage at its start, so jobs run again", async () => {
    const { url, proxy } = await proxiedDatabase(db.url);
    const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-watchdog-"));
    await writeFile(path.join(dir, "crontab"), "");
    const events = createDaemonEvents();
    // The database goes away the moment the pool comes up: graphile-worker's
    // first task lookup fails, and 0.17 caches that failure for good.
    events.once("pool:running", () => proxy.cut());
    const logs = captureLogs();
    const config = loadConfig(
      { DATABASE_URL: url, PGMILL_CRONTAB: path.join(dir, "crontab"), PGMILL_HEARTBEAT_INTERVAL: "0.3", PGMILL_DEAD_AFTER: "5" },
      {},
    );
    const daemon = await Daemon.start(config, logs.logger, tasks, events);
    onFileCleanup(() => daemon.shutdown());
    await new Promise((r) => setTimeout(r, 1_000));
    proxy.restore();

    const jobId = await addJobWithSql(db.handle.db, "ok", {});
    await waitFor("the job to run after the outage", async () => (await runsOf(db.handle.db, jobId)).length === 1, 70_000, 250);
    expect(logs.lines.some((l) => String(l.msg).startsWith("worker pool has fetched no jobs while idle"))).toBe(true);
  }, 90_000);
});
