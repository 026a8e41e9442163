import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { sleep } from "../lib/probe.js";
import { vmHwmMb, vmRssMb } from "../lib/resources.js";
import type { BenchDatabase } from "../lib/server.js";
import { addJobsInBulk, graphileJobsLeft } from "./graphile-sql.js";
import { ledgerSnapshot, type LedgerSnapshot } from "./pgmill.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The daemon as `npm start` runs it: compiled, no loader. */
const DAEMON_ENTRY = path.join(ROOT, "dist/cli/bin.js");
/** As `npm start` and the Dockerfile run it. */
const NODE_FLAGS = ["--max-semi-space-size=16"];
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 45_000;

/** The shipped registry's cheapest task: validates `{message}` and logs it at info (a no-op at LOG_LEVEL=silent). */
export const PROCESS_TASK = "log-message";
export const PROCESS_PAYLOAD = { message: "x" };

export interface DaemonMemory {
  readonly pid: number;
  /** VmRSS once running and idle. */
  readonly idleRssMb: number | null;
  /** VmHWM after the drain: the process's peak RSS. */
  readonly peakRssMb: number | null;
}

/**
 * `count` real `pgmill run` processes (`node dist/cli/bin.js run`, as
 * `npm start` runs it, built from this tree first) on one database, each with
 * the defaults (ledger on), an empty crontab, HTTP on an ephemeral port, and
 * LOG_LEVEL as given (stdout to /dev/null).
 */
export class PgmillProcesses {
  private children: ChildProcess[] = [];
  private stderr = new Map<number, string>();
  private exited = new Map<number, number | string>();
  private control: pg.Pool | null = null;
  private idleRss = new Map<number, number | null>();
  private dir: string | null = null;

  constructor(
    readonly count: number,
    readonly logLevel: "silent" | "info",
  ) {}

  get pids(): number[] {
    return this.children.flatMap((c) => (c.pid ? [c.pid] : []));
  }

  async prepare(db: BenchDatabase): Promise<void> {
    this.control = new pg.Pool({ connectionString: db.url, max: 2, application_name: "pgmill-bench-control" });
    this.control.on("error", () => undefined);
    const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-bench-process-"));
    this.dir = dir;
    await writeFile(path.join(dir, "crontab"), "");
    for (let k = 0; k < this.count; k++) {
      const child = spawn(process.execPath, [...NODE_FLAGS, DAEMON_ENTRY, "run"], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? dir,
          DATABASE_URL: db.url,
          PGMILL_HTTP_PORT: "0",
          LOG_LEVEL: this.logLevel,
        },
        stdio: ["ignore", "ignore", "pipe"],
      });
      const pid = child.pid ?? -1;
      this.stderr.set(pid, "");
      child.stderr!.on("data", (chunk: Buffer) => this.stderr.set(pid, ((this.stderr.get(pid) ?? "") + chunk.toString()).slice(-4000)));
      child.on("exit", (code, signal) => this.exited.set(pid, code ?? signal ?? "?"));
      this.children.push(child);
    }
  }

  /** Waits until every daemon has registered as running in pgmill.daemons (each pool is then up and idle). */
  async start(): Promise<void> {
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      for (const [pid, code] of this.exited) {
        throw new Error(`pgmill daemon ${pid} exited (${code}) before it ran; stderr: ${this.stderr.get(pid) ?? ""}`);
      }
      const { rows } = await this.control!.query<{ n: number }>(
        "select count(*)::int as n from pgmill.daemons where state = 'running' and pid = any($1::int[])",
        [this.pids],
      ).catch(() => ({ rows: [{ n: 0 }] })); // the first daemon may still be creating pgmill.daemons
      if (rows[0]!.n === this.count) break;
      if (performance.now() > deadline) throw new Error(`only ${rows[0]!.n} of ${this.count} pgmill daemons running after ${START_TIMEOUT_MS} ms`);
      await sleep(100);
    }
    for (const pid of this.pids) this.idleRss.set(pid, vmRssMb(pid));
  }

  enqueue(n: number): Promise<void> {
    return addJobsInBulk(this.control!, PROCESS_TASK, n, { constant: PROCESS_PAYLOAD });
  }

  remaining(): Promise<number> {
    return graphileJobsLeft(this.control!);
  }

  async waitForCompletion(deadline: number): Promise<number> {
    for (;;) {
      const left = await this.remaining();
      const now = performance.now();
      if (left === 0) return now;
      for (const [pid, code] of this.exited) throw new Error(`pgmill daemon ${pid} exited (${code}); stderr: ${this.stderr.get(pid) ?? ""}`);
      if (now > deadline) throw new Error(`pgmill x${this.count}: ${left} jobs left at the deadline`);
      await sleep(20);
    }
  }

  ledger(): Promise<LedgerSnapshot> {
    return ledgerSnapshot(this.control!);
  }

  memory(): DaemonMemory[] {
    return this.pids.map((pid) => ({ pid, idleRssMb: this.idleRss.get(pid) ?? null, peakRssMb: vmHwmMb(pid) }));
  }

  /** SIGTERM (graceful drain), then SIGKILL for any that outlives the bound; only our own children. */
  async stop(): Promise<void> {
    const exits = this.children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
        }),
    );
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const all = Promise.all(exits);
    const inTime = await Promise.race([all.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
    if (!inTime) {
      for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await all;
    }
    this.children = [];
    await this.control?.end();
    this.control = null;
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

/** Compiles src/ to dist/ (the build `npm install` runs), so the processes run this tree's code. */
export function buildDaemon(): void {
  const tsc = fileURLToPath(import.meta.resolve("typescript/bin/tsc"));
  execFileSync(process.execPath, [tsc, "-p", path.join(ROOT, "tsconfig.build.json")], { cwd: ROOT, stdio: "inherit" });
}
