import { cpuEnd, cpuStart, type CpuReport } from "../lib/resources.js";
import { median, medianRoundRatio, round } from "../lib/stats.js";
import { buildDaemon, PgmillProcesses, PROCESS_TASK, type DaemonMemory } from "../systems/pgmill-processes.js";
import type { BenchContext } from "./context.js";
import type { BenchDatabase } from "../lib/server.js";
import { ledgerCost, type FailedRun, type LedgerCost } from "./drain.js";

export interface ScalingConfig {
  readonly label: string;
  readonly daemons: number;
  readonly logLevel: "silent" | "info";
}

export interface ScalingRun {
  readonly label: string;
  readonly round: number;
  readonly daemons: number;
  readonly logLevel: string;
  readonly n: number;
  readonly seconds: number;
  readonly jobsPerSec: number;
  /** How long the processes took to come up (tsx compile, migrations check, registration): not part of `seconds`. */
  readonly startupMs: number;
  readonly memory: DaemonMemory[];
  readonly cpu: CpuReport;
  readonly ledger: LedgerCost;
}

export interface ScalingSummary {
  readonly n: number;
  readonly task: string;
  readonly rounds: number;
  readonly runs: ScalingRun[];
  readonly failures: FailedRun[];
  readonly byConfig: Record<string, { jobsPerSec: number; allJobsPerSec: number[]; peakRssMb: number; idleRssMb: number; cpu: CpuReport }>;
  /** Throughput of N daemons over 1 daemon (median of per-round ratios). */
  readonly speedup: Record<string, number>;
}

export const SCALING_CONFIGS: readonly ScalingConfig[] = [
  { label: "x1", daemons: 1, logLevel: "silent" },
  { label: "x2", daemons: 2, logLevel: "silent" },
  { label: "x4", daemons: 4, logLevel: "silent" },
  { label: "x1 LOG_LEVEL=info", daemons: 1, logLevel: "info" },
];

/**
 * pgmill as deployed: 1, 2 and 4 `pgmill run` processes on one database
 * draining `n` log-message jobs. The processes start first and each backlog
 * is inserted in one transaction once all of them run (idle), so every
 * daemon gets it at the same moment (graphile-worker's insert NOTIFY); the
 * clock starts when the insert returns. Each set of daemons is spawned once
 * and drains `rounds` backlogs back to back.
 */
export async function scalingWorkload(ctx: BenchContext, template: BenchDatabase, n: number, timeoutMs: number): Promise<ScalingSummary> {
  ctx.log("building dist/ for the daemon processes");
  buildDaemon();
  const runs: ScalingRun[] = [];
  const failures: FailedRun[] = [];
  for (const config of SCALING_CONFIGS) {
    let measured: ScalingRun[];
    try {
      measured = await scalingConfig(ctx, template, config, n, timeoutMs);
    } catch (error) {
      failures.push({ system: `pgmill ${config.label}`, round: 0, error: String(error) });
      ctx.log(`scaling pgmill ${config.label} FAILED: ${String(error)}`);
      continue;
    }
    for (const run of measured) {
      runs.push(run);
      const peak = Math.max(...run.memory.map((m) => m.peakRssMb ?? 0));
      ctx.log(
        `scaling round ${run.round}/${ctx.rounds} pgmill ${config.label.padEnd(18)} ${String(Math.round(run.jobsPerSec)).padStart(6)} jobs/s` +
          ` (${run.seconds.toFixed(2)} s; startup ${(run.startupMs / 1000).toFixed(1)} s; peak RSS ${peak.toFixed(0)} MB;` +
          ` cpu: machine ${pct(run.cpu.machineBusyPct)} pg ${pct(run.cpu.postgresPct)} daemons ${pct(run.cpu.workersPct)})`,
      );
    }
  }
  const byConfig: ScalingSummary["byConfig"] = {};
  for (const config of SCALING_CONFIGS) {
    const mine = runs.filter((x) => x.label === config.label);
    if (!mine.length) continue;
    const typical = [...mine].sort((a, b) => a.jobsPerSec - b.jobsPerSec)[Math.floor((mine.length - 1) / 2)]!;
    byConfig[config.label] = {
      jobsPerSec: median(mine.map((x) => x.jobsPerSec)),
      allJobsPerSec: mine.map((x) => round(x.jobsPerSec, 0)),
      peakRssMb: Math.max(...mine.flatMap((x) => x.memory.map((m) => m.peakRssMb ?? 0))),
      idleRssMb: median(mine.flatMap((x) => x.memory.map((m) => m.idleRssMb ?? 0))),
      cpu: typical.cpu,
    };
  }
  const speedup: Record<string, number> = {};
  for (const config of SCALING_CONFIGS) {
    const ratio = medianRoundRatio(runs, (r) => r.label === config.label, (r) => r.label === "x1");
    if (ratio !== undefined) speedup[config.label] = ratio;
  }
  return { n, task: PROCESS_TASK, rounds: ctx.rounds, runs, failures, byConfig, speedup };
}

function pct(value: number | null): string {
  return value === null ? "?" : `${Math.round(value)}%`;
}

/** One set of daemons on a fresh database, draining `ctx.rounds` backlogs one after another. */
async function scalingConfig(
  ctx: BenchContext,
  template: BenchDatabase,
  config: ScalingConfig,
  n: number,
  timeoutMs: number,
): Promise<ScalingRun[]> {
  const db = await ctx.dbs.fresh(`proc${config.daemons}`, template);
  const daemons = new PgmillProcesses(config.daemons, config.logLevel);
  const runs: ScalingRun[] = [];
  try {
    const spawned = performance.now();
    await daemons.prepare(db);
    await daemons.start();
    const startupMs = performance.now() - spawned;
    for (let r = 0; r < ctx.rounds; r++) {
      const ledgerBefore = await daemons.ledger();
      const cpu = cpuStart(daemons.pids);
      await daemons.enqueue(n);
      const t0 = performance.now();
      const done = await daemons.waitForCompletion(t0 + timeoutMs);
      const cpuReport = cpuEnd(cpu);
      const ledgerAfter = await daemons.ledger();
      const seconds = (done - t0) / 1000;
      runs.push({
        label: config.label,
        round: r + 1,
        daemons: config.daemons,
        logLevel: config.logLevel,
        n,
        seconds,
        jobsPerSec: n / seconds,
        startupMs,
        memory: daemons.memory(),
        cpu: cpuReport,
        ledger: ledgerCost(ledgerBefore, ledgerAfter, n),
      });
    }
    return runs;
  } finally {
    await daemons.stop().catch((error: unknown) => ctx.log(`pgmill processes: stop failed: ${String(error)}`));
    await ctx.dbs.drop(db);
  }
}
