import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "./postgres-server.js";
import { waitFor } from "./wait-for.js";

export const PGBOUNCER_INSTALL = [
  "pgbouncer is not installed; the pooler tests and the chaos scenario `pooler-restart` start one of their own.",
  "On Debian/Ubuntu (root): apt-get install -y pgbouncer && service pgbouncer stop   (the tests never use the service)",
  "Elsewhere: install PgBouncer 1.18 or newer so that `pgbouncer` is on PATH (or in /usr/sbin).",
].join("\n");

export type PoolMode = "session" | "transaction";

export interface PgBouncer {
  readonly port: number;
  readonly mode: PoolMode;
  /** `serverUrl`'s database `database`, reached through this PgBouncer. */
  url(database: string): string;
  /** Immediate shutdown (SIGTERM): every client connection drops, as when a pooler pod is replaced. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Its log, for a failed test. */
  log(): Promise<string>;
  /** Stops it for good and removes its files. */
  dispose(): Promise<void>;
}

/** The pgbouncer binary; throws with how to install it where there is none, so no test skips silently. */
export function pgbouncerBinary(): string {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin"];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, "pgbouncer");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(PGBOUNCER_INSTALL);
}

/**
 * A PgBouncer of the caller's own on loopback, in front of the server of
 * `serverUrl`, from a config generated in a temp dir (never the system
 * service). It logs in to Postgres as `serverUrl`'s user whatever user a client
 * names (`auth_type = any`), so it works with any server the suite runs on.
 */
export async function startPgBouncer(serverUrl: string, options: { mode: PoolMode; poolSize?: number }): Promise<PgBouncer> {
  const binary = pgbouncerBinary();
  const server = new URL(serverUrl);
  const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-pgbouncer-"));
  // pgbouncer refuses to run as root; it switches to `postgres`, who must reach its files.
  await chmod(dir, 0o777);
  const port = await freePort();
  const credentials = [
    `user=${decodeURIComponent(server.username || "postgres")}`,
    ...(server.password ? [`password=${decodeURIComponent(server.password)}`] : []),
  ].join(" ");
  const ini = path.join(dir, "pgbouncer.ini");
  await writeFile(
    ini,
    [
      "[databases]",
      `* = host=${server.hostname.replace(/^\[|\]$/g, "")} port=${server.port || 5432} ${credentials}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = any",
      `pool_mode = ${options.mode}`,
      `default_pool_size = ${options.poolSize ?? 40}`,
      "max_client_conn = 1000",
      "ignore_startup_parameters = extra_float_digits,options",
      `logfile = ${path.join(dir, "pgbouncer.log")}`,
      `pidfile = ${path.join(dir, "pgbouncer.pid")}`,
      "",
    ].join("\n"),
  );
  await chmod(ini, 0o644);
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    if (child) return;
    const asRoot = process.getuid?.() === 0;
    const started = spawn(binary, [...(asRoot ? ["-u", "postgres"] : []), ini], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    started.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    exited = new Promise((resolve) => started.on("exit", () => resolve()));
    child = started;
    void exited.then(() => {
      if (child === started) child = null;
    });
    await waitFor(`pgbouncer to listen on 127.0.0.1:${port}`, async () => {
      if (!child) throw new Error(`pgbouncer exited: ${stderr.trim()} ${await readFile(path.join(dir, "pgbouncer.log"), "utf8").catch(() => "")}`);
      return accepts(port);
    }, 10_000, 50);
  };
  const stop = async () => {
    const running = child;
    if (!running) return;
    running.kill("SIGTERM");
    await exited;
  };
  await start();
  return {
    port,
    mode: options.mode,
    url: (database) => {
      const url = new URL(serverUrl);
      url.host = `127.0.0.1:${port}`;
      url.pathname = `/${encodeURIComponent(database)}`;
      return url.toString();
    },
    stop,
    start,
    log: () => readFile(path.join(dir, "pgbouncer.log"), "utf8").catch(() => ""),
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}
