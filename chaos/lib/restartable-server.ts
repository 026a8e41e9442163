import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { pino } from "pino";
import { startEmbeddedPostgres, type EmbeddedServer } from "../../src/db/embedded-postgres.js";
import { freePort, traversableTempDir } from "../../tests/support/postgres-server.js";

/**
 * A throwaway embedded Postgres of the scenario's own, to stop and start
 * again (the shared server is never restarted). Same data dir and port, so
 * clients reconnect to the same address.
 */
export interface RestartableServer {
  readonly adminUrl: string;
  /** Fast shutdown: sessions are terminated, as on a real restart. */
  stop(): Promise<void>;
  /** kill -9 of the postmaster, as a crash or an OOM kill: no shutdown, its backends die with it. */
  crash(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and deletes its data. */
  destroy(): Promise<void>;
}

export async function startRestartableServer(): Promise<RestartableServer> {
  const dataDir = await traversableTempDir("pgmill-chaos-pg-");
  const options = { dataDir, port: await freePort(), database: "postgres", logger: pino({ level: "warn" }) };
  let server: EmbeddedServer | null = await startEmbeddedPostgres(options);
  const stop = async () => {
    await server?.stop();
    server = null;
  };
  return {
    adminUrl: server.connectionString,
    stop,
    crash: async () => {
      // The first line of postmaster.pid is the postmaster's pid.
      const pid = Number((await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[0]);
      process.kill(pid, "SIGKILL");
      await stop(); // only waits for the exit: the process is gone
    },
    start: async () => {
      server ??= await startEmbeddedPostgres(options);
    },
    destroy: async () => {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
