import { rm } from "node:fs/promises";
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
    start: async () => {
      server ??= await startEmbeddedPostgres(options);
    },
    destroy: async () => {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
