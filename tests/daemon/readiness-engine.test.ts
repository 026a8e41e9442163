import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { proxiedDatabase } from "../support/tcp-proxy.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { serveTestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

const ran: number[] = [];
const tasks = taskRegistry(defineTask({ name: "note", payload: z.object({ n: z.number() }), handler: async ({ n }) => void ran.push(n) }));
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

interface Readiness {
  status: number;
  checks: Record<string, { ok: boolean; detail: string }>;
}

async function readiness(baseUrl: string): Promise<Readiness> {
  const response = await fetch(`${baseUrl}/readyz`);
  return { status: response.status, checks: ((await response.json()) as { checks: Readiness["checks"] }).checks };
}

describe("readiness and the engine", () => {
  it("turns 503 while the engine's fetches keep failing though the heartbeat's database answers, and back once they work", async () => {
    // The pooled URL (the engine's) through a proxy to cut; the direct one (heartbeat, LISTEN) stays up: a pooler dying.
    const { url, proxy } = await proxiedDatabase(db.url);
    const { baseUrl } = await serveTestDaemon(db, tasks, {
      databaseUrl: url,
      settings: { PGMILL_DIRECT_URL: db.url, PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "5" },
    });
    await waitFor("ready", async () => (await readiness(baseUrl)).status === 200);

    proxy.cut();
    const failing = await waitFor("the engine check to fail", async () => {
      const report = await readiness(baseUrl);
      return report.checks.engine?.ok === false ? report : null;
    }, 40_000, 200);
    expect(failing.status).toBe(503);
    expect(failing.checks.database!.ok).toBe(true);
    expect(failing.checks.engine!.detail).toMatch(/^fetching jobs has failed for \d+s \(last: Error occurred fetching jobs/);

    proxy.restore();
    await waitFor("ready again", async () => (await readiness(baseUrl)).status === 200, 40_000, 200);
    await addJobWithSql(db.handle.db, "note", { n: 7 });
    await waitFor("a job to run again", () => ran.includes(7));
  }, 90_000);
});
