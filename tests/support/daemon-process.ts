import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { onFileCleanup } from "./file-cleanup.js";
import { StopWaiting, waitFor } from "./wait-for.js";

/** How long a daemon left running by a test gets to drain (and stop its embedded server) before SIGKILL. */
const CLEANUP_GRACE_MS = 15_000;

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** tsx's loader by absolute URL: the child runs in a temp dir, where `--import tsx` would not resolve. */
const TSX_LOADER = import.meta.resolve("tsx");

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal that ended it). */
  readonly exited: Promise<number | NodeJS.Signals>;
  waitForLog(message: string | RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export interface SpawnOptions {
  /** Lead a process group of its own, as a terminal's foreground job does: signal it all with `process.kill(-pid, ...)`. */
  readonly detached?: boolean;
  /** A script to run instead of `pgmill run` (a daemon with test tasks, say), relative to the project root. */
  readonly script?: string;
}

/** The real CLI (`pgmill run`) as a child process, with its NDJSON stdout parsed. */
export async function spawnDaemon(env: Record<string, string>, crontab = "", options: SpawnOptions = {}): Promise<DaemonProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-process-"));
  await writeFile(path.join(dir, "crontab"), crontab);
  const command = options.script ? [path.join(ROOT, options.script)] : [path.join(ROOT, "src/cli/main.ts"), "run"];
  const child = spawn(process.execPath, ["--import", TSX_LOADER, ...command], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? dir, PGMILL_HTTP_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.detached ?? false,
  });
  const lines: Record<string, unknown>[] = [];
  let buffered = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    const complete = buffered.split("\n");
    buffered = complete.pop()!;
    for (const line of complete) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal!)));
  // Whatever a test does (a timeout, a variable reused for the next daemon), no daemon outlives its file.
  onFileCleanup(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const stopped = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), CLEANUP_GRACE_MS))]);
    if (!stopped) child.kill("SIGKILL");
  });
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    waitForLog: async (message, timeoutMs = 30_000) => {
      let exitedWith: number | string | null = null;
      void exited.then((code) => (exitedWith = code));
      return waitFor(`log line ${String(message)}`, () => {
        const line = lines.find((l) => (typeof message === "string" ? l.msg === message : message.test(String(l.msg))));
        if (!line && exitedWith !== null) throw new StopWaiting(`the daemon exited (${exitedWith}) first; stderr: ${stderr.slice(-2000)}`);
        return line;
      }, timeoutMs);
    },
  };
}
