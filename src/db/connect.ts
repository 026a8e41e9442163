import pg from "pg";
import type { Config } from "../config/config.js";
import type { Logger } from "../logging/logger.js";
import { startEmbeddedPostgres, type EmbeddedServer } from "./embedded-postgres.js";

export interface DatabaseTarget {
  readonly connectionString: string;
  /** Set when pgmill started the server itself. */
  readonly embedded: EmbeddedServer | null;
}

/**
 * DATABASE_URL when given; otherwise the embedded Postgres under the data dir:
 * the one another pgmill process already runs on the embedded port, or a new one.
 */
export async function resolveDatabase(
  config: Pick<Config, "databaseUrl" | "dataDir" | "embeddedPort">,
  logger: Logger,
): Promise<DatabaseTarget> {
  if (config.databaseUrl) return { connectionString: config.databaseUrl, embedded: null };
  const running = embeddedConnectionString(config.embeddedPort);
  if (await answers(running)) return { connectionString: running, embedded: null };
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPort, logger });
  logger.info(
    { connectionString: embedded.connectionString, dataDir: config.dataDir },
    `no DATABASE_URL: started embedded postgres; connect with: psql ${embedded.connectionString}`,
  );
  return { connectionString: embedded.connectionString, embedded };
}

export function embeddedConnectionString(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/pgmill`;
}

async function answers(connectionString: string): Promise<boolean> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 1_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
