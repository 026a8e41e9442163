import { rm } from "node:fs/promises";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { spawnDaemon } from "../support/daemon-process.js";
import { freePort, traversableTempDir } from "../support/postgres-server.js";

const dataDir = await traversableTempDir("pgmill-embedded-");
afterAll(() => rm(dataDir, { recursive: true, force: true }));

describe("with no DATABASE_URL", () => {
  it("starts an embedded Postgres, logs how to connect, runs the crontab, and stops it all on SIGTERM", async () => {
    const port = await freePort();
    const daemon = await spawnDaemon(
      { PGMILL_DATA_DIR: dataDir, PGMILL_EMBEDDED_PORT: String(port), PGMILL_CONCURRENCY: "2" },
      `* * * * * log-message ?id=hello {message: "hi"}\n`,
    );
    const started = await daemon.waitForLog(/^no DATABASE_URL: started embedded postgres/, 90_000);
    expect(started.connectionString).toBe(`postgres://postgres@127.0.0.1:${port}/pgmill`);
    await daemon.waitForLog("pgmill daemon running", 60_000);

    // psql's view of it: migrated, with our schema and graphile-worker's.
    const client = new pg.Client({ connectionString: String(started.connectionString) });
    await client.connect();
    const { rows } = await client.query<{ nspname: string }>(
      "select nspname from pg_namespace where nspname in ('pgmill', 'graphile_worker') order by 1",
    );
    await client.query("select graphile_worker.add_job('log-message', json_build_object('message', 'from psql'))");
    const deadline = Date.now() + 20_000;
    let succeeded = 0;
    while (Date.now() < deadline && !succeeded) {
      succeeded = (await client.query("select 1 from pgmill.job_runs where status = 'succeeded'")).rowCount ?? 0;
      await new Promise((r) => setTimeout(r, 100));
    }
    await client.end();
    expect(rows.map((r) => r.nspname)).toEqual(["graphile_worker", "pgmill"]);
    expect(succeeded).toBeGreaterThan(0);

    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    // The server went down with the daemon.
    const after = new pg.Client({ connectionString: String(started.connectionString), connectionTimeoutMillis: 2_000 });
    await expect(after.connect()).rejects.toThrow();
  }, 150_000);
});
