import http from "node:http";
import type { AddressInfo } from "node:net";
import { rm } from "node:fs/promises";
import { pino } from "pino";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../../src/db/embedded-postgres.js";
import { spawnDaemon } from "../support/daemon-process.js";
import { freePort, traversableTempDir } from "../support/postgres-server.js";
import { waitFor } from "../support/wait-for.js";

// Ctrl-C in the terminal running `npm start` signals its whole foreground
// process group. The embedded Postgres must not be in it: it has to outlive
// the drain, and the daemon stops it last.

const dataDir = await traversableTempDir("pgmill-ctrl-c-");
const requests: string[] = [];
const server = http.createServer((req, res) => {
  requests.push(req.url ?? "");
  setTimeout(() => res.end("done"), 1_500);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("Ctrl-C on a daemon with embedded Postgres", () => {
  it("drains the running job, records it, stops the embedded server last, and exits 0 without a stack trace", async () => {
    const port = await freePort();
    const daemon = await spawnDaemon(
      { PGMILL_DATA_DIR: dataDir, PGMILL_EMBEDDED_PORT: String(port), PGMILL_SHUTDOWN_TIMEOUT: "20" },
      "",
      { detached: true },
    );
    const { connectionString } = await daemon.waitForLog(/^no DATABASE_URL: started embedded postgres/, 90_000);
    await daemon.waitForLog("pgmill daemon running", 60_000);
    const client = new pg.Client({ connectionString: String(connectionString) });
    await client.connect();
    const { rows } = await client.query<{ id: string }>("select (graphile_worker.add_job('http', $1::json)).id", [
      JSON.stringify({ url: `${baseUrl}/slow` }),
    ]);
    await client.end();
    await waitFor("the request to arrive", () => requests.includes("/slow"));

    const signalledAt = Date.now();
    process.kill(-daemon.child.pid!, "SIGINT");
    expect(await daemon.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(20_000);

    // The server is down: nothing answers on its port, and it can be started again.
    const after = new pg.Client({ connectionString: String(connectionString), connectionTimeoutMillis: 2_000 });
    await expect(after.connect()).rejects.toThrow();
    const restarted = await startEmbeddedPostgres({ dataDir, port, logger: pino({ level: "silent" }) });
    try {
      const check = new pg.Client({ connectionString: restarted.connectionString });
      await check.connect();
      const runs = await check.query("select status from pgmill.job_runs where job_id = $1", [rows[0]!.id]);
      await check.end();
      expect(runs.rows).toEqual([{ status: "succeeded" }]);
    } finally {
      await restarted.stop();
    }

    const messages = daemon.lines.map((l) => l.msg);
    expect(messages.indexOf("attempt succeeded")).toBeGreaterThan(messages.indexOf("received signal; shutting down gracefully (send again to force)"));
    expect(messages.at(-1)).toBe("pgmill daemon stopped");
    // Nothing went wrong on the way down: no warnings, no errors, no stack traces.
    expect(daemon.lines.filter((l) => Number(l.level) >= 40)).toEqual([]);
    expect(daemon.stderr()).toBe("");
  }, 150_000);
});
