import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/database.js";
import type { LedgerEntry } from "../../src/ledger/entry.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { runCli } from "../cli/run-cli.js";
import { spawnDaemon, type DaemonProcess } from "../support/daemon-process.js";
import { createLoginRole, type LoginRole } from "../support/database-roles.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { ledgerEntry } from "../support/ledger-entries.js";
import { captureLogs } from "../support/log-capture.js";
import { addJobWithSql, deadLetterOf, runsOf } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// What must never reach the logs at default settings: this marker, put in
// every payload (headers, bodies, query strings, paths, values that fail
// validation), and the database password.
const SECRET = `s3cr3t-${randomBytes(6).toString("hex")}`;

// Error bodies echo the request's path and query, secret included, as some
// servers do: the http task must keep no part of them.
const server = http.createServer((req, res) => {
  req.resume();
  const path = new URL(req.url ?? "/", "http://x").pathname;
  res.statusCode = path === "/ok" ? 200 : path.startsWith("/fail") ? 500 : 404;
  res.end(res.statusCode === 200 ? "ok" : `no such thing: ${req.url}`);
});
let base = "";
let db: TestDatabase;
let role: LoginRole;

beforeAll(async () => {
  role = await createLoginRole("pgmill_logs"); // first, so it is dropped after the database that holds its grants
  db = await createTestDatabase();
  await sql`select pgmill.grant_runtime(${role.name})`.execute(db.handle.db);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function runDaemon(env: Record<string, string>): Promise<DaemonProcess> {
  const daemon = await spawnDaemon({ DATABASE_URL: role.url(db.name), ...env });
  onFileCleanup(() => daemon.child.kill("SIGKILL"));
  await daemon.waitForLog("pgmill daemon running", 60_000);
  return daemon;
}

async function stop(daemon: DaemonProcess): Promise<string> {
  daemon.child.kill("SIGTERM");
  expect(await daemon.exited).toBe(0);
  return `${daemon.lines.map((line) => JSON.stringify(line)).join("\n")}\n${daemon.stderr()}`;
}

describe("a daemon at default settings", () => {
  it("logs every outcome without payloads, headers or the database password", async () => {
    const daemon = await runDaemon({});
    const bearer = { authorization: `Bearer ${SECRET}`, "x-api-key": SECRET };
    const jobs = {
      succeeded: await addJobWithSql(db.handle.db, "log-message", { message: "hello", note: SECRET }),
      withHeaders: await addJobWithSql(db.handle.db, "http", { url: `${base}/ok?token=${SECRET}`, headers: bearer, method: "POST", body: { SECRET } }),
      failing: await addJobWithSql(db.handle.db, "http", { url: `${base}/fail?token=${SECRET}`, headers: bearer }, { maxAttempts: 3 }),
      lastAttempt: await addJobWithSql(db.handle.db, "http", { url: `${base}/fail/${SECRET}`, headers: bearer }, { maxAttempts: 1 }),
      permanent: await addJobWithSql(db.handle.db, "http", { url: `${base}/gone/${SECRET}`, headers: bearer }),
      invalidEnum: await addJobWithSql(db.handle.db, "log-message", { message: "x", level: SECRET }),
      invalidUrl: await addJobWithSql(db.handle.db, "http", { url: `not a url ${SECRET}`, headers: { authorization: SECRET } }),
      invalidType: await addJobWithSql(db.handle.db, "http", { url: `${base}/ok`, headers: { authorization: 42 }, timeout: SECRET }),
    };
    await waitFor("every job's first attempt to be recorded", async () => {
      const runs = await Promise.all(Object.values(jobs).map((id) => runsOf(db.handle.db, id)));
      return runs.every((r) => r.length >= 1);
    }, 30_000);
    expect((await runsOf(db.handle.db, jobs.failing))[0]).toMatchObject({ status: "failed" });
    for (const [job, reason] of [
      [jobs.lastAttempt, "max_attempts"],
      [jobs.permanent, "permanent_error"],
      [jobs.invalidEnum, "invalid_payload"],
      [jobs.invalidUrl, "invalid_payload"],
      [jobs.invalidType, "invalid_payload"],
    ] as const) {
      expect(await deadLetterOf(db.handle.db, job), job).toMatchObject({ reason });
    }
    const output = await stop(daemon);

    // Every outcome was logged (so the check below looks at real lines)...
    const outcome = (jobId: string, msg: string) => daemon.lines.find((l) => l.jobId === jobId && l.msg === msg);
    for (const job of [jobs.succeeded, jobs.withHeaders]) expect(outcome(job, "attempt succeeded"), job).toBeDefined();
    expect(outcome(jobs.failing, "attempt failed; will retry")).toMatchObject({ error: `GET ${base} answered 500` });
    for (const job of [jobs.lastAttempt, jobs.permanent, jobs.invalidEnum, jobs.invalidUrl, jobs.invalidType]) {
      expect(outcome(job, "job moved to dead letters"), job).toBeDefined();
    }
    expect(outcome(jobs.permanent, "job moved to dead letters")).toMatchObject({ error: `GET ${base} answered 404` });
    expect(outcome(jobs.invalidType, "job moved to dead letters")?.error).toMatch(/^payload does not match task http: .*expected string, received number/);
    // The history keeps the status, method and origin, never the error body that echoed the secret.
    for (const job of [jobs.failing, jobs.lastAttempt, jobs.permanent]) {
      expect((await runsOf(db.handle.db, job))[0]!.error_message, job).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+ answered (500|404)$/);
    }
    // ...and none carries the marker or the password.
    expect(output).not.toContain(SECRET);
    expect(output).not.toContain(role.password);
  }, 90_000);

  it("puts payloads in log lines only when PGMILL_LOG_PAYLOADS=true asks for it", async () => {
    const daemon = await runDaemon({ PGMILL_LOG_PAYLOADS: "true" });
    const job = await addJobWithSql(db.handle.db, "log-message", { message: "hello", note: SECRET });
    await waitFor("the job to run", async () => (await runsOf(db.handle.db, job)).length === 1);
    const output = await stop(daemon);
    expect(daemon.lines.find((l) => l.jobId === job && l.msg === "attempt succeeded")).toMatchObject({ payload: { note: SECRET } });
    expect(output).not.toContain(role.password);
  }, 90_000);
});

describe("start-up errors", () => {
  it("never print the database password", async () => {
    const urls = [
      `mysql://app:${role.password}@127.0.0.1/app`, // refused by the config schema
      `postgres://app:${role.password}@[not-a-host/app`, // not a URL
      Object.assign(new URL(role.url(db.name)), { pathname: "/no_such_database" }).toString(), // the server refuses it
    ];
    for (const url of urls) {
      const result = await runCli(["run"], { databaseUrl: url, env: { PGMILL_HTTP_PORT: "0" } });
      expect(result.code, url).not.toBe(0);
      expect(result.stderr.length, url).toBeGreaterThan(0);
      expect(`${result.stdout}${result.stderr}`, url).not.toContain(role.password);
    }
  }, 120_000);
});

describe("the ledger's error lines", () => {
  const entry = (overrides: Partial<LedgerEntry["run"]> = {}) =>
    ledgerEntry({ jobId: "4242", task: "log-message", payload: { note: SECRET }, ...overrides });

  it("name a refused row by job and attempt, without its payload or Postgres' quote of the row", async () => {
    const logs = captureLogs("info");
    const ledger = new Ledger(db.handle.db, { batchSize: 10, logger: logs.logger });
    // attempt 0 breaks a check constraint: Postgres' detail quotes the whole row, payload included.
    await expect(ledger.write(entry({ attempt: 0 }))).rejects.toMatchObject({ code: "23514" });
    const line = logs.lines.find((l) => l.msg === "ledger: the database refused this history row");
    expect(line).toMatchObject({ entry: { jobId: "4242", task: "log-message", attempt: 0 }, err: { code: "23514" } });
    expect(logs.text()).not.toContain(SECRET);
  });

  it("name the rows it could not write before shutdown, without their payloads", async () => {
    const logs = captureLogs("info");
    const unreachable = openDatabase(`postgres://app:${role.password}@127.0.0.1:1/app`, { maxConnections: 1 });
    onFileCleanup(() => unreachable.close());
    const ledger = new Ledger(unreachable.db, { batchSize: 10, logger: logs.logger });
    const lost = ledger.write(entry()).catch((error: Error) => error);
    await ledger.close(300);
    expect(await lost).toMatchObject({ message: "ledger closed before this entry was written" });
    const line = logs.lines.find((l) => String(l.msg).includes("could not be written before shutdown"));
    expect(line).toMatchObject({ entries: [{ jobId: "4242", task: "log-message", attempt: 1, status: "succeeded" }] });
    expect(logs.text()).not.toContain(SECRET);
    expect(logs.text()).not.toContain(role.password);
  });
});
