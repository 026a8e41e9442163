import { readFileSync, readdirSync } from "node:fs";
import os from "node:os";

/**
 * CPU and memory readings from /proc (Linux), so each measurement can say what
 * was busy: the machine as a whole, the Postgres server's processes, and the
 * process running the jobs. Elsewhere the readings come back empty.
 */

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

interface CpuSnapshot {
  readonly at: number;
  readonly machineBusy: number;
  readonly machineTotal: number;
  readonly postgres: number;
  readonly self: NodeJS.CpuUsage;
  readonly pids: Map<number, number>;
}

export interface CpuReport {
  /** Busy share of all cores (100 = every core busy the whole time). */
  readonly machineBusyPct: number | null;
  /** Postgres server processes, in % of one core. */
  readonly postgresPct: number | null;
  /** The process that ran the jobs (this one, or the daemon processes summed), in % of one core. */
  readonly workersPct: number | null;
}

function readMachine(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** utime + stime ticks of one process, or null when it is gone. */
export function processTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

function postgresTicks(): number {
  let sum = 0;
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      if (comm !== "postgres" && !comm.startsWith("postgres:")) continue;
      sum += processTicks(Number(entry)) ?? 0;
    } catch {
      // the process ended meanwhile
    }
  }
  return sum;
}

/** Starts a CPU measurement; `pids` are worker processes to account instead of this one. */
export function cpuStart(pids: readonly number[] = []): CpuSnapshot {
  const machine = readMachine();
  return {
    at: performance.now(),
    machineBusy: machine.busy,
    machineTotal: machine.total,
    postgres: postgresTicks(),
    self: process.cpuUsage(),
    pids: new Map(pids.map((pid) => [pid, processTicks(pid) ?? 0])),
  };
}

export function cpuEnd(start: CpuSnapshot): CpuReport {
  const seconds = (performance.now() - start.at) / 1000;
  if (seconds <= 0 || process.platform !== "linux") return { machineBusyPct: null, postgresPct: null, workersPct: null };
  const machine = readMachine();
  const totalTicks = machine.total - start.machineTotal;
  const machineBusyPct = totalTicks > 0 ? ((machine.busy - start.machineBusy) / totalTicks) * 100 : null;
  const postgresDelta = postgresTicks() - start.postgres;
  // Server processes that exit mid-run take their ticks with them: no reading then, rather than a wrong one.
  const postgresPct = postgresDelta >= 0 ? (postgresDelta / TICKS_PER_SECOND / seconds) * 100 : null;
  let workersPct: number;
  if (start.pids.size) {
    let ticks = 0;
    for (const [pid, before] of start.pids) ticks += (processTicks(pid) ?? before) - before;
    workersPct = (ticks / TICKS_PER_SECOND / seconds) * 100;
  } else {
    const used = process.cpuUsage(start.self);
    workersPct = ((used.user + used.system) / 1e6 / seconds) * 100;
  }
  return { machineBusyPct, postgresPct, workersPct };
}

/** Peak resident set size of another process (VmHWM), in MB. */
export function vmHwmMb(pid: number): number | null {
  return statusField(pid, "VmHWM");
}

export function vmRssMb(pid: number): number | null {
  return statusField(pid, "VmRSS");
}

function statusField(pid: number, field: string): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Samples this process's RSS while a system runs in-process: the peak covers
 * the harness too (and whatever earlier runs left on the heap), so it is an
 * upper bound for the system, reported as such.
 */
export class RssSampler {
  private peak = process.memoryUsage().rss;
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs = 100) {
    this.timer = setInterval(() => (this.peak = Math.max(this.peak, process.memoryUsage().rss)), everyMs);
    this.timer.unref();
  }

  stop(): number {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
    return this.peak / 1024 / 1024;
  }
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpuModel: cpus[0]?.model ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}
