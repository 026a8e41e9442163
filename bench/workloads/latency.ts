import { JobProbe, sleep } from "../lib/probe.js";
import { percentiles, type Percentiles } from "../lib/stats.js";
import type { EngineCounts } from "../systems/engine-counters.js";
import type { SystemAdapter, SystemId } from "../systems/types.js";
import { rotated, templateOf, type BenchContext } from "./context.js";
import type { FailedRun } from "./drain.js";

/** Time given a freshly started system to settle (first polls, maintenance) before the first job. */
const SETTLE_MS = 1_000;
/** Enqueues allowed in flight at once (each is one INSERT round trip). */
const MAX_IN_FLIGHT = 64;

export interface LatencyRun {
  readonly system: SystemId;
  readonly round: number;
  /** Milliseconds from the enqueue call to the handler starting. */
  readonly latency: Percentiles;
  /** The rate actually achieved by the enqueue loop. */
  readonly achievedRate: number;
  /** graphile-worker local-queue counts during the enqueue phase (pgmill, graphile-worker tuned). */
  readonly engine?: EngineCounts;
}

export interface LatencySummary {
  readonly rate: number;
  readonly seconds: number;
  readonly rounds: number;
  readonly runs: LatencyRun[];
  readonly failures: FailedRun[];
  /** Percentiles over every job of every round, per system. */
  readonly bySystem: Partial<Record<SystemId, Percentiles>>;
}

/**
 * Steady-state latency: into an idle, running system, enqueue one job at a
 * time at `rate` jobs/s for `seconds` (paced on a schedule, not after the
 * previous insert returns, so a slow insert does not hide latency), and time
 * each job from the enqueue call to its handler starting. All in this process,
 * on one clock.
 */
export async function latencyWorkload(ctx: BenchContext, rate: number, seconds: number): Promise<LatencySummary> {
  const runs: LatencyRun[] = [];
  const failures: FailedRun[] = [];
  const all = new Map<SystemId, number[]>();
  for (let r = 0; r < ctx.rounds; r++) {
    for (const adapter of rotated(ctx.adapters, r)) {
      if (failures.some((f) => f.system === adapter.id)) continue;
      let measured: Awaited<ReturnType<typeof latencyOnce>>;
      try {
        measured = await latencyOnce(ctx, adapter, rate, seconds, r);
      } catch (error) {
        failures.push({ system: adapter.id, round: r + 1, error: String(error) });
        ctx.log(`latency round ${r + 1}/${ctx.rounds} ${adapter.id.padEnd(10)} FAILED: ${String(error)}`);
        continue;
      }
      const { run, samples } = measured;
      runs.push(run);
      all.set(adapter.id, [...(all.get(adapter.id) ?? []), ...samples]);
      const l = run.latency;
      ctx.log(
        `latency round ${r + 1}/${ctx.rounds} ${adapter.id.padEnd(10)} p50 ${l.p50.toFixed(1)} ms, p95 ${l.p95.toFixed(1)} ms,` +
          ` p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms (${run.achievedRate.toFixed(0)} jobs/s enqueued)` +
          (run.engine
            ? `; local queue: ${run.engine.fetches} fetches, ${run.engine.emptyFetches} empty, ${run.engine.refetchDelays} refetch delays (${run.engine.refetchDelayMs} ms)`
            : ""),
      );
    }
  }
  const bySystem: Partial<Record<SystemId, Percentiles>> = {};
  for (const [id, samples] of all) bySystem[id] = percentiles(samples);
  return { rate, seconds, rounds: ctx.rounds, runs, failures, bySystem };
}

async function latencyOnce(
  ctx: BenchContext,
  adapter: SystemAdapter,
  rate: number,
  seconds: number,
  roundIndex: number,
): Promise<{ run: LatencyRun; samples: number[] }> {
  const db = await ctx.dbs.fresh(adapter.id, templateOf(ctx, adapter));
  const probe = new JobProbe();
  const total = Math.round(rate * seconds);
  const intervalMs = 1000 / rate;
  try {
    await adapter.prepare(db, probe);
    await adapter.start();
    await sleep(SETTLE_MS);
    adapter.takeEngineCounts?.();
    const enqueuedAt = new Map<number, number>();
    const inFlight = new Set<Promise<void>>();
    let failure: unknown = null;
    const t0 = performance.now();
    for (let i = 0; i < total && failure === null; i++) {
      const due = t0 + i * intervalMs;
      const wait = due - performance.now();
      if (wait >= 1) await sleep(wait);
      while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
      enqueuedAt.set(i, performance.now());
      const sent: Promise<void> = adapter.enqueueOne(i, "latency").then(
        () => void inFlight.delete(sent),
        (error: unknown) => {
          inFlight.delete(sent);
          failure = error;
        },
      );
      inFlight.add(sent);
    }
    await Promise.all(inFlight);
    if (failure !== null) throw failure;
    const achievedRate = total / ((performance.now() - t0) / 1000);
    const engine = adapter.takeEngineCounts?.();
    await adapter.waitForCompletion(total, performance.now() + 30_000 + seconds * 1000);
    for (const error of adapter.takeErrors?.() ?? []) ctx.log(`${adapter.id} reported: ${error}`);
    const samples: number[] = [];
    for (const [i, at] of enqueuedAt) {
      const started = probe.startedAt.get(i);
      if (started === undefined) throw new Error(`${adapter.id}: latency job ${i} never started`);
      samples.push(started - at);
    }
    const run: LatencyRun = { system: adapter.id, round: roundIndex + 1, latency: percentiles(samples), achievedRate, ...(engine ? { engine } : {}) };
    return { run, samples };
  } finally {
    await adapter.stop().catch((error: unknown) => ctx.log(`${adapter.id}: stop failed: ${String(error)}`));
    await ctx.dbs.drop(db);
  }
}
