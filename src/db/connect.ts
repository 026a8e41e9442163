import pg from "pg";
import type { Config } from "../config/config.js";
import { PgmillError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import { forgetEmbeddedOwner, liveEmbeddedOwner, recordEmbeddedOwner, type EmbeddedOwner } from "./embedded-owner.js";
import { assertEmbeddedPostgresInstalled, startEmbeddedPostgres, type EmbeddedServer } from "./embedded-postgres.js";

/** Where a daemon or command connects: the shared pool's URL, and the one for what needs a session. */
export interface DatabaseUrls {
  /** DATABASE_URL (maybe a transaction pooler when a direct URL is given), or the embedded server's. */
  readonly connectionString: string;
  /** LISTEN, advisory locks, migrations, the heartbeat: PGMILL_DIRECT_URL, else the same as `connectionString`. */
  readonly sessionConnectionString: string;
  /** PGMILL_DIRECT_URL is set: `connectionString` may be transaction-pooled (no prepared statements there). */
  readonly direct: boolean;
}

export interface DatabaseTarget extends DatabaseUrls {
  /** Set when pgmill started the server itself. */
  readonly embedded: EmbeddedServer | null;
}

type DatabaseSettings = Pick<Config, "databaseUrl" | "directUrl" | "dataDir" | "embeddedPort">;

function givenUrls(databaseUrl: string, directUrl: string | undefined): DatabaseUrls {
  return { connectionString: databaseUrl, sessionConnectionString: directUrl ?? databaseUrl, direct: directUrl !== undefined };
}

function embeddedUrls(connectionString: string): DatabaseUrls {
  return { connectionString, sessionConnectionString: connectionString, direct: false };
}

/**
 * The daemon's database: DATABASE_URL when given; otherwise an embedded
 * Postgres of its own under the data dir, recorded there for one-shot
 * commands. It never attaches to another daemon's server: two daemons on one
 * data dir is a mistake, said in one line.
 */
export async function resolveDatabase(config: DatabaseSettings, logger: Logger): Promise<DatabaseTarget> {
  if (config.databaseUrl) return { ...givenUrls(config.databaseUrl, config.directUrl), embedded: null };
  assertEmbeddedPostgresInstalled();
  const owner = await runningDaemon(config.dataDir);
  if (owner) {
    throw new PgmillError(
      "PGMILL_EMBEDDED_IN_USE",
      `the embedded postgres in ${config.dataDir} belongs to a running pgmill daemon (pid ${owner.pid}): stop that one, ` +
        `give this one its own PGMILL_DATA_DIR and PGMILL_EMBEDDED_PORT, or share its database with DATABASE_URL=${owner.connectionString}`,
    );
  }
  const server = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPort, logger });
  const embedded: EmbeddedServer = {
    connectionString: server.connectionString,
    stop: async () => {
      await forgetEmbeddedOwner(config.dataDir);
      await server.stop();
    },
  };
  await recordEmbeddedOwner(config.dataDir, server.connectionString).catch(async (error: unknown) => {
    await embedded.stop();
    throw error;
  });
  logger.info(
    { connectionString: server.connectionString, dataDir: config.dataDir },
    `no DATABASE_URL: started embedded postgres; connect with: psql ${server.connectionString}`,
  );
  return { ...embeddedUrls(server.connectionString), embedded };
}

/**
 * A one-shot command's database: DATABASE_URL when given, else the embedded
 * Postgres of the daemon running on this data dir. It never starts a server of
 * its own: one that lives for a single command would hide that no daemon runs.
 */
export async function resolveCommandDatabase(config: DatabaseSettings): Promise<DatabaseUrls> {
  if (config.databaseUrl) return givenUrls(config.databaseUrl, config.directUrl);
  assertEmbeddedPostgresInstalled();
  const owner = await runningDaemon(config.dataDir);
  if (owner) return embeddedUrls(owner.connectionString);
  throw new PgmillError(
    "PGMILL_NO_DATABASE",
    `no DATABASE_URL, and no pgmill daemon is running with embedded postgres in ${config.dataDir}: ` +
      `start one (npm start, or pgmill run) or set DATABASE_URL`,
  );
}

/** The daemon recorded under the data dir, if it is alive and its server answers (a reused pid does not count). */
async function runningDaemon(dataDir: string): Promise<EmbeddedOwner | null> {
  const owner = await liveEmbeddedOwner(dataDir);
  return owner && (await answers(owner.connectionString)) ? owner : null;
}

async function answers(connectionString: string): Promise<boolean> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2_000 });
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
