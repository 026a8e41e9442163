import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, dropDatabase } from "../support/database-admin.js";
import { databaseUrl } from "../support/database-url.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";
import { expectUserError, PROJECT_ROOT, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { seed, TOKEN } from "./fixtures.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await seed(db.handle.db);
});

/** Tables in schemas other than the system's: what a migration would have created. */
async function fetchTables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      "select table_schema || '.' || table_name as name from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema')",
    );
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

/** `pgmill dashboard` as a real child process, its NDJSON log collected. */
function startDashboard(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "dashboard", "--port", "0"], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal!)));
  onFileCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, exited, output: () => output };
}

describe("pgmill dashboard", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("serves the pages, never shows the token or the database URL, and stops on SIGTERM", async () => {
    const dashboard = startDashboard({ DATABASE_URL: db.url, PGMILL_DASHBOARD_TOKEN: TOKEN });
    const url = await waitFor("the listening line", () => dashboard.output().match(/dashboard listening on (http:\/\/\S+?)"/)?.[1], 60_000);
    const overview = await fetch(url);
    expect(overview.status).toBe(200);
    const page = await overview.text();
    expect(page).toContain("log in to act");
    for (const path of ["/jobs", "/runs", "/dead-letters", "/cron", "/daemons"]) {
      const response = await fetch(url + path);
      expect(response.status, path).toBe(200);
      const body = await response.text();
      expect(body).not.toContain(TOKEN);
      expect(body).not.toContain(db.url);
    }
    dashboard.child.kill("SIGTERM");
    expect(await dashboard.exited).toBe(0);
    expect(dashboard.output()).toContain('"actions":"enabled (token set)"');
    expect(dashboard.output()).not.toContain(TOKEN);
  });

  it("refuses a database without pgmill's schema instead of migrating it", async () => {
    const name = `pgmill_bare_${randomBytes(4).toString("hex")}`;
    await createDatabase(inject("adminUrl"), name);
    onFileCleanup(() => dropDatabase(inject("adminUrl"), name));
    const result = await runCli(["dashboard", "--port", "0"], { databaseUrl: databaseUrl(inject("adminUrl"), name) });
    expect(expectUserError(result)).toContain("no pgmill schema yet: run `pgmill migrate`");
    const tables = await fetchTables(databaseUrl(inject("adminUrl"), name));
    expect(tables).toEqual([]);
  });

  it("names a bad port or a short token, without echoing the token", async () => {
    const result = await runCli(["dashboard", "--port", "99999"], { env: { PGMILL_DASHBOARD_TOKEN: "too-short" } });
    const stderr = expectUserError(result);
    expect(stderr).toContain("PGMILL_DASHBOARD_PORT (--port):");
    expect(stderr).toContain("PGMILL_DASHBOARD_TOKEN: at least 16 characters");
    expect(result.stderr).not.toContain("too-short");
  });
});
