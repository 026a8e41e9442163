import { FAIL_EVERY } from "../lib/probe.js";
import type { BenchContext } from "./context.js";
import { drainWorkload, type DrainSummary } from "./drain.js";

/**
 * Workload 1: drain a backlog of no-op jobs, enqueued in bulk before the
 * workers start; jobs/s from start() to the last job completed in the database.
 */
export function backlogWorkload(ctx: BenchContext, n: number, capMs: number): Promise<DrainSummary> {
  return drainWorkload(ctx, "backlog", n, "noop", { capMs, attempts: n });
}

/** Workload 3: the same drain with jobs that await 5 ms of I/O (setTimeout 5): concurrency at work. */
export function ioWorkload(ctx: BenchContext, n: number, capMs: number): Promise<DrainSummary> {
  return drainWorkload(ctx, "io-5ms", n, "io5", { capMs, attempts: n });
}

/**
 * Workload 4: 20% of the jobs fail once, then succeed on their retry; the
 * time to complete every job. Retries are due as soon as each system allows
 * (see each adapter's retryNote): pg-boss at once, graphile-worker (and so
 * pgmill) after its fixed exponential backoff of e^1 = 2.7 s.
 */
export function retryWorkload(ctx: BenchContext, n: number, capMs: number): Promise<DrainSummary> {
  return drainWorkload(ctx, "retry-20%", n, "fail-once", { capMs, attempts: n + Math.ceil(n / FAIL_EVERY) });
}

export interface BacklogSizeStep {
  readonly n: number;
  readonly summary: DrainSummary;
}

/**
 * Workload 1b: the backlog drain at growing sizes (10k to 1M with --huge), for
 * pgmill and graphile-worker tuned only: is the cost per job flat as the
 * backlog grows? One round per size (the large ones take minutes).
 */
export async function backlogSizesWorkload(ctx: BenchContext, sizes: readonly number[], capMs: number): Promise<BacklogSizeStep[]> {
  const adapters = ctx.adapters.filter((a) => a.id === "pgmill" || a.id === "gw-tuned");
  const steps: BacklogSizeStep[] = [];
  for (const n of sizes) {
    const summary = await drainWorkload({ ...ctx, adapters, rounds: 1 }, `backlog ${n.toLocaleString("en")}`, n, "noop", { capMs, attempts: n });
    steps.push({ n, summary });
  }
  return steps;
}
