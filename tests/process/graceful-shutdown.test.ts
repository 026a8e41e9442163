import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { spawnDaemon } from "../support/daemon-process.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
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
  it("lets the running job finish, records it, and exits 0", async () => {
    const daemon = await spawnDaemon({ DATABASE_URL: db.url, PGMILL_SHUTDOWN_TIMEOUT: "20" });
    await daemon.waitForLog("pgmill daemon running");
    const jobId = await addJobWithSql(db.handle.db, "http", { url: `${baseUrl}/slow` });
    await waitFor("the request to arrive", () => requests.includes("/slow"));

    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);

    const runs = await runsOf(db.handle.db, jobId);
    expect(runs.map((r) => r.status)).toEqual(["succeeded"]);
    expect(await jobInEngine(db.handle.db, jobId)).toBeUndefined();
    const messages = daemon.lines.map((l) => l.msg);
    expect(messages).toContain("shutting down: cron and fetching stopped, draining running jobs");
    expect(messages.indexOf("attempt succeeded")).toBeLessThan(messages.indexOf("pgmill daemon stopped"));
  });

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
});

