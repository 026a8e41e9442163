import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { spawnDaemon, type DaemonProcess, type SpawnOptions } from "../../tests/support/daemon-process.js";
import { waitFor } from "../../tests/support/wait-for.js";
import type { Check } from "./scenario.js";

/** Short beats so recovery is quick: a silent daemon is reaped after DEAD_AFTER_S. */
export const HEARTBEAT_S = 0.5;
export const DEAD_AFTER_S = 5;

export interface ClusterDaemon {
  readonly process: DaemonProcess;
  /** The port of its /livez, /readyz and /metrics (PGMILL_HTTP_PORT=0 binds any). */
  readonly probePort: number;
}

/** What one daemon gets beyond the cluster's settings. */
export interface LaunchOptions {
  readonly settings?: Record<string, string>;
  readonly spawn?: SpawnOptions;
}

/**
 * Real `pgmill run` processes on one database (null: no DATABASE_URL, so each
 * starts its embedded Postgres). Every process started is tracked, so
 * `stopAll` ends them whatever happened to the scenario.
 */
export class Cluster {
  readonly daemons: ClusterDaemon[] = [];
  private readonly started: DaemonProcess[] = [];

  constructor(
    private readonly databaseUrl: string | null,
    private readonly settings: Record<string, string> = {},
    private readonly crontab = "",
  ) {}

  /** Starts `count` daemons and waits for each to run. */
  async start(count: number): Promise<void> {
    const first = this.daemons.length;
    const launched = await Promise.all(Array.from({ length: count }, (_, i) => this.launch(first + i)));
    for (const daemon of launched) await this.waitRunning(daemon);
  }

  /** Spawns one daemon (not waiting for it to run) and returns it once its probe server listens. */
  async launch(index: number, options: LaunchOptions = {}): Promise<ClusterDaemon> {
    const process = await spawnDaemon(
      {
        ...(this.databaseUrl ? { DATABASE_URL: this.databaseUrl } : {}),
        PGMILL_CONCURRENCY: "8",
        PGMILL_HEARTBEAT_INTERVAL: String(HEARTBEAT_S),
        PGMILL_DEAD_AFTER: String(DEAD_AFTER_S),
        PGMILL_SHUTDOWN_TIMEOUT: "10",
        ...this.settings,
        ...options.settings,
      },
      this.crontab,
      options.spawn,
    );
    this.started.push(process);
    const listening = await process.waitForLog(/^probe and metrics server listening/, 60_000);
    const daemon = { process, probePort: Number(listening.port) };
    this.daemons[index] = daemon;
    return daemon;
  }

  async waitRunning(daemon: ClusterDaemon): Promise<void> {
    await daemon.process.waitForLog("pgmill daemon running", 60_000);
  }

  /** SIGTERM: drains and exits; resolves with the exit code. */
  async terminate(daemon: ClusterDaemon, timeoutMs = 60_000): Promise<number | NodeJS.Signals> {
    daemon.process.child.kill("SIGTERM");
    return exitWithin(daemon.process, timeoutMs);
  }

  /** Ends every daemon ever started: SIGTERM, then SIGKILL for any still up after 20 s. */
  async stopAll(): Promise<void> {
    await this.keepLogs();
    await Promise.all(
      this.started.map(async (p) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        // A scenario that paused it (SIGSTOP) and failed before resuming it.
        try {
          process.kill(p.child.pid!, "SIGCONT");
        } catch {
          // gone meanwhile
        }
        p.child.kill("SIGTERM");
        await exitWithin(p, 20_000).catch(() => {
          p.child.kill("SIGKILL");
          return p.exited;
        });
      }),
    );
  }

  /** With CHAOS_LOG_DIR set, each daemon's log lines go to a file there, for a look after a failed run. */
  private async keepLogs(): Promise<void> {
    const dir = process.env.CHAOS_LOG_DIR;
    if (!dir) return;
    await mkdir(dir, { recursive: true });
    for (const p of this.started) {
      const text = p.lines.map((l) => JSON.stringify(l)).join("\n") + `\n${p.stderr()}`;
      await writeFile(path.join(dir, `daemon-${p.child.pid}.ndjson`), text);
    }
  }

  /** The check every scenario makes: no daemon exited that the scenario did not stop. */
  exitCheck(what = "no daemon exited"): Check {
    const exits = this.started
      .filter((p) => p.child.exitCode !== null && !p.child.killed)
      .map((p) => `pid ${p.child.pid} exited ${p.child.exitCode}: ${p.stderr().slice(-500)}`);
    return { what, ok: exits.length === 0, detail: exits.join("; ") || "none" };
  }
}

/** GET /readyz: true on 200, false on 503 or no answer. */
export async function isReady(daemon: ClusterDaemon): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${daemon.probePort}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** The exit code (or signal) of a daemon that is exiting; throws if it is still up after `timeoutMs`. */
export async function exitWithin(process: DaemonProcess, timeoutMs: number): Promise<number | NodeJS.Signals> {
  let code: number | NodeJS.Signals | undefined;
  void process.exited.then((c) => (code = c));
  await waitFor(`daemon pid ${process.child.pid} to exit`, () => code !== undefined, timeoutMs, 100);
  return code!;
}
