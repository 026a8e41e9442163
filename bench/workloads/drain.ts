import { DeadlineError, JobProbe, type JobKind } from "../lib/probe.js";
import { cpuEnd, cpuStart, RssSampler, type CpuReport } from "../lib/resources.js";
import { median, medianRoundRatio, round } from "../lib/stats.js";
import { PgmillAdapter, type LedgerBatches, type LedgerSnapshot } from "../systems/pgmill.js";
import type { EngineCounts } from "../systems/engine-counters.js";
import type { SystemAdapter, SystemId } from "../systems/types.js";
import { rotated, templateOf, walPosition, type BenchContext } from "./context.js";

export interface LedgerCost {
  readonly attempts: number;
  readonly rows: number;
  readonly bytes: number;
  readonly rowsPerAttempt: number;
  readonly bytesPerAttempt: number;
  /** In-process runs: the group-commit batches that wrote them. */
  readonly batches?: LedgerBatches;
}

/** One system draining one backlog. */
export interface DrainRun {
  readonly system: SystemId;
  readonly round: number;
  readonly n: number;
  readonly kind: JobKind;
  /** From the call to start() to the moment the database held no unfinished job (or to the cap). */
  readonly seconds: number;
  readonly jobsPerSec: number;
  /** Cut off at the drain cap: `jobsPerSec` is then completed jobs over the elapsed time. */
  readonly partial?: { readonly completed: number; readonly capSeconds: number };
  /** How long start() took to resolve (migrations check, registration, pool start: part of `seconds`). */
  readonly startupMs: number;
  /** This process's peak RSS during the run (harness included) for in-process systems. */
  readonly peakRssMb: number;
  readonly cpu: CpuReport;
  /** WAL the server wrote during the run, per job. */
  readonly walBytesPerJob: number;
  readonly ledger?: LedgerCost;
  /** graphile-worker local-queue counts (pgmill, graphile-worker tuned). */
  readonly engine?: EngineCounts;
}

/** A measurement that failed (a timeout, a system error): reported, and the run goes on. */
export interface FailedRun {
  readonly system: string;
  readonly round: number;
  readonly error: string;
}

export interface DrainSummary {
  readonly n: number;
  readonly kind: JobKind;
  readonly rounds: number;
  readonly runs: DrainRun[];
  readonly failures: FailedRun[];
  /** Medians per system over the rounds. */
  readonly bySystem: Partial<Record<SystemId, SystemDrainSummary>>;
  /** pgmill's throughput over each peer's: median of the per-round ratios (measured side by side). */
  readonly pgmillRatio: Partial<Record<SystemId, number>>;
}

export interface SystemDrainSummary {
  readonly jobsPerSec: number;
  /** Some run was cut off at the drain cap. */
  readonly partial: boolean;
  readonly seconds: number;
  readonly allJobsPerSec: number[];
  readonly startupMs: number;
  readonly peakRssMb: number;
  readonly machineBusyPct: number | null;
  readonly postgresPct: number | null;
  readonly workersPct: number | null;
  readonly walBytesPerJob: number;
  readonly ledger?: LedgerCost;
}

/** Runs a fresh database per system per round, each draining `n` jobs of `kind` enqueued before its workers start. */
export interface DrainOptions {
  /** A drain still running after this long is stopped and reported as partial. */
  readonly capMs: number;
  /** Attempts the ledger should record (jobs plus expected retries). */
  readonly attempts: number;
}

/** A measurement that took longer than this is not repeated: one long drain says enough, and the run stays short. */
export const LONG_RUN_SECONDS = 20;

export async function drainWorkload(
  ctx: BenchContext,
  name: string,
  n: number,
  kind: JobKind,
  options: DrainOptions,
): Promise<DrainSummary> {
  const runs: DrainRun[] = [];
  const failures: FailedRun[] = [];
  for (let r = 0; r < ctx.rounds; r++) {
    for (const adapter of rotated(ctx.adapters, r)) {
      const first = runs.find((x) => x.system === adapter.id);
      if (first && first.seconds > LONG_RUN_SECONDS) continue;
      if (failures.some((f) => f.system === adapter.id)) continue;
      let run: DrainRun;
      try {
        run = await drainOnce(ctx, adapter, n, kind, r, options);
      } catch (error) {
        failures.push({ system: adapter.id, round: r + 1, error: String(error) });
        ctx.log(`${name} round ${r + 1}/${ctx.rounds} ${adapter.id.padEnd(10)} FAILED: ${String(error)}`);
        continue;
      }
      runs.push(run);
      const b = run.ledger?.batches;
      ctx.log(
        `${name} round ${r + 1}/${ctx.rounds} ${adapter.id.padEnd(10)} ${String(Math.round(run.jobsPerSec)).padStart(6)} jobs/s` +
          ` (${run.seconds.toFixed(2)} s, start ${Math.round(run.startupMs)} ms, cpu: machine ${fmtPct(run.cpu.machineBusyPct)}` +
          ` pg ${fmtPct(run.cpu.postgresPct)} workers ${fmtPct(run.cpu.workersPct)})` +
          (b ? `; ledger: ${b.batches} batches of ${b.rowsPerBatch.toFixed(1)} rows, ${b.msPerBatch.toFixed(1)} ms each` : "") +
          (run.partial ? `; PARTIAL: cut off at the ${run.partial.capSeconds} s cap with ${run.partial.completed} of ${n} done` : ""),
      );
    }
  }
  return summarise(ctx, n, kind, runs, failures);
}

function fmtPct(value: number | null): string {
  return value === null ? "?" : `${Math.round(value)}%`;
}

export async function drainOnce(
  ctx: BenchContext,
  adapter: SystemAdapter,
  n: number,
  kind: JobKind,
  roundIndex: number,
  options: DrainOptions,
): Promise<DrainRun> {
  const db = await ctx.dbs.fresh(adapter.id, templateOf(ctx, adapter));
  const probe = new JobProbe();
  try {
    await adapter.prepare(db, probe);
    await adapter.enqueue(n, kind);
    const ledgerBefore = adapter instanceof PgmillAdapter ? await adapter.ledger() : null;
    adapter.takeEngineCounts?.();
    const walBefore = await walPosition(ctx.server.adminUrl);
    const rss = new RssSampler();
    const cpu = cpuStart();
    const t0 = performance.now();
    await adapter.start();
    const startupMs = performance.now() - t0;
    let done: number;
    let partial: DrainRun["partial"];
    try {
      done = await adapter.waitForCompletion(n, t0 + options.capMs);
    } catch (error) {
      if (!(error instanceof DeadlineError)) throw error;
      done = performance.now();
      const completed = n - (await adapter.remaining());
      if (completed <= 0) throw error;
      partial = { completed, capSeconds: options.capMs / 1000 };
    }
    const cpuReport = cpuEnd(cpu);
    const peakRssMb = rss.stop();
    const walBytes = Number((await walPosition(ctx.server.adminUrl)) - walBefore);
    const ledgerAfter = adapter instanceof PgmillAdapter ? await adapter.ledger() : null;
    const batches = adapter instanceof PgmillAdapter ? adapter.takeLedgerBatches() : undefined;
    const engine = adapter.takeEngineCounts?.();
    const seconds = (done - t0) / 1000;
    for (const error of adapter.takeErrors?.() ?? []) ctx.log(`${adapter.id} reported: ${error}`);
    return {
      system: adapter.id,
      round: roundIndex + 1,
      n,
      kind,
      seconds,
      jobsPerSec: (partial?.completed ?? n) / seconds,
      ...(partial ? { partial } : {}),
      startupMs,
      peakRssMb,
      cpu: cpuReport,
      walBytesPerJob: walBytes / (partial?.completed ?? n),
      ...(ledgerBefore && ledgerAfter ? { ledger: { ...ledgerCost(ledgerBefore, ledgerAfter, options.attempts), ...(batches ? { batches } : {}) } } : {}),
      ...(engine ? { engine } : {}),
    };
  } finally {
    await adapter.stop().catch((error: unknown) => ctx.log(`${adapter.id}: stop failed: ${String(error)}`));
    await ctx.dbs.drop(db);
  }
}

export function ledgerCost(before: LedgerSnapshot, after: LedgerSnapshot, attempts: number): LedgerCost {
  const rows = after.rows - before.rows;
  const bytes = after.bytes - before.bytes;
  return { attempts, rows, bytes, rowsPerAttempt: round(rows / attempts, 3), bytesPerAttempt: round(bytes / attempts, 1) };
}

function summarise(ctx: BenchContext, n: number, kind: JobKind, runs: DrainRun[], failures: FailedRun[]): DrainSummary {
  const bySystem: Partial<Record<SystemId, SystemDrainSummary>> = {};
  for (const adapter of ctx.adapters) {
    const mine = runs.filter((r) => r.system === adapter.id);
    if (!mine.length) continue;
    const rates = mine.map((r) => r.jobsPerSec);
    // The run whose rate is the median (lower middle): its CPU readings describe a typical run.
    const typical = [...mine].sort((a, b) => a.jobsPerSec - b.jobsPerSec)[Math.floor((mine.length - 1) / 2)]!;
    const ledgers = mine.flatMap((r) => (r.ledger ? [r.ledger] : []));
    bySystem[adapter.id] = {
      jobsPerSec: median(rates),
      partial: mine.some((r) => r.partial),
      seconds: median(mine.map((r) => r.seconds)),
      allJobsPerSec: rates.map((x) => round(x, 0)),
      startupMs: median(mine.map((r) => r.startupMs)),
      peakRssMb: Math.max(...mine.map((r) => r.peakRssMb)),
      machineBusyPct: typical.cpu.machineBusyPct,
      postgresPct: typical.cpu.postgresPct,
      workersPct: typical.cpu.workersPct,
      walBytesPerJob: median(mine.map((r) => r.walBytesPerJob)),
      ...(ledgers.length ? { ledger: ledgers[ledgers.length - 1]! } : {}),
    };
  }
  const pgmillRatio: Partial<Record<SystemId, number>> = {};
  for (const peer of ctx.adapters) {
    if (peer.id === "pgmill") continue;
    const ratio = medianRoundRatio(runs, (r) => r.system === "pgmill", (r) => r.system === peer.id);
    if (ratio !== undefined) pgmillRatio[peer.id] = ratio;
  }
  return { n, kind, rounds: ctx.rounds, runs, failures, bySystem, pgmillRatio };
}
