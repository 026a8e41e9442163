import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { spawnDaemon } from "../support/daemon-process.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { proxiedDatabase } from "../support/tcp-proxy.js";
import { waitFor } from "../support/wait-for.js";

// A real endpoint for the built-in `http` task: /slow answers after 1.5s, /hang never.
const requests: string[] = [];
const server = http.createServer((req, res) => {
  requests.push(req.url ?? "");
  if (req.url === "/slow") setTimeout(() => res.end("done"), 1_500);
});
let baseUrl = "";
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe("the daemon process on SIGTERM", () => {
  // SIGHUP is a closed terminal: the daemon must not outlive it, holding its ports.
  for (const signal of ["SIGTERM", "SIGHUP"] as const) {
    it(`${signal}: lets the running job finish, records it, and exits 0`, async () => {
      const daemon = await spawnDaemon({ DATABASE_URL: db.url, PGMILL_SHUTDOWN_TIMEOUT: "20" });
      await daemon.waitForLog("pgmill daemon running");
      const before = requests.filter((r) => r === "/slow").length;
      const jobId = await addJobWithSql(db.handle.db, "http", { url: `${baseUrl}/slow` });
      await waitFor("the request to arrive", () => requests.filter((r) => r === "/slow").length > before);

      daemon.child.kill(signal);
      expect(await daemon.exited).toBe(0);

      const runs = await runsOf(db.handle.db, jobId);
      expect(runs.map((r) => r.status)).toEqual(["succeeded"]);
      expect(await jobInEngine(db.handle.db, jobId)).toBeUndefined();
      const messages = daemon.lines.map((l) => l.msg);
      expect(daemon.lines.find((l) => l.msg === "received signal; shutting down gracefully (send again to force)")).toMatchObject({ signal });
      expect(messages).toContain("shutting down: cron and fetching stopped, draining running jobs");
      expect(messages.indexOf("attempt succeeded")).toBeLessThan(messages.indexOf("pgmill daemon stopped"));
    });
  }

  it("aborts a job that outlives the drain budget, records it, releases it for another daemon, and exits 0", async () => {
    const daemon = await spawnDaemon({ DATABASE_URL: db.url, PGMILL_SHUTDOWN_TIMEOUT: "1" });
    await daemon.waitForLog("pgmill daemon running");
    const jobId = await addJobWithSql(db.handle.db, "http", { url: `${baseUrl}/hang` }, { maxAttempts: 5 });
    await waitFor("the request to arrive", () => requests.includes("/hang"));

    const signalledAt = Date.now();
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(15_000);

    const [run] = await runsOf(db.handle.db, jobId);
    expect(run).toMatchObject({ status: "failed", attempt: 1 });
    expect(run!.error_message).toMatch(/interrupted: the daemon shut down/);
    // Released: unlocked, its attempt counted, waiting for any daemon.
    expect(await jobInEngine(db.handle.db, jobId)).toMatchObject({ locked_at: null, locked_by: null, attempts: 1 });
  });

  it("forces on a second signal: records and releases the running job at once, exits 1", async () => {
    const daemon = await spawnDaemon({ DATABASE_URL: db.url, PGMILL_SHUTDOWN_TIMEOUT: "60" });
    await daemon.waitForLog("pgmill daemon running");
    const before = requests.filter((r) => r === "/hang").length;
    const jobId = await addJobWithSql(db.handle.db, "http", { url: `${baseUrl}/hang` }, { maxAttempts: 5 });
    await waitFor("the request to arrive", () => requests.filter((r) => r === "/hang").length > before);

    const signalledAt = Date.now();
    daemon.child.kill("SIGTERM");
    await daemon.waitForLog("shutting down: cron and fetching stopped, draining running jobs");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(1);
    // Far sooner than the 60 s drain budget.
    expect(Date.now() - signalledAt).toBeLessThan(15_000);
    const [run] = await runsOf(db.handle.db, jobId);
    expect(run).toMatchObject({ status: "failed", attempt: 1 });
    expect(await jobInEngine(db.handle.db, jobId)).toMatchObject({ locked_at: null, attempts: 1 });
  });

  it("records and releases a job whose handler never settles, once the drain budget is spent", async () => {
    const daemon = await spawnDaemon(
      { DATABASE_URL: db.url, PGMILL_SHUTDOWN_TIMEOUT: "1" },
      "",
      { script: "tests/support/daemon-with-stuck-task.ts" },
    );
    await daemon.waitForLog("pgmill daemon running");
    const jobId = await addJobWithSql(db.handle.db, "stuck", {}, { maxAttempts: 5 });
    await waitFor("the stuck job to be locked", async () => (await jobInEngine(db.handle.db, jobId))?.locked_at);

    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    const [run] = await runsOf(db.handle.db, jobId);
    expect(run).toMatchObject({ status: "failed", attempt: 1 });
    // Unlocked for any daemon now: a stopped daemon is never reaped, and the engine's own timeout is four hours.
    expect(await jobInEngine(db.handle.db, jobId)).toMatchObject({ locked_at: null, locked_by: null });
  });

  it("exits 1 within a few seconds of a second signal, even with a handler that never settles and a silent database", async () => {
    const { url, proxy } = await proxiedDatabase(db.url);
    const daemon = await spawnDaemon(
      { DATABASE_URL: url, PGMILL_SHUTDOWN_TIMEOUT: "60" },
      "",
      { script: "tests/support/daemon-with-stuck-task.ts" },
    );
    await daemon.waitForLog("pgmill daemon running");
    const jobId = await addJobWithSql(db.handle.db, "stuck", {});
    await waitFor("the stuck job to be locked", async () => (await jobInEngine(db.handle.db, jobId))?.locked_at);

    daemon.child.kill("SIGTERM");
    await daemon.waitForLog("shutting down: cron and fetching stopped, draining running jobs");
    // Nothing the forced shutdown sends the database gets an answer now.
    proxy.freeze();
    const forcedAt = Date.now();
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(1);
    expect(Date.now() - forcedAt).toBeLessThan(8_000);
    // The shutdown itself never finished: the second signal's deadline ended the process.
    expect(daemon.lines.map((l) => l.msg)).not.toContain("pgmill daemon stopped");
  });
});
