import type { JobKind } from "../lib/probe.js";
import { PgmillAdapter } from "../systems/pgmill.js";
import type { SystemId } from "../systems/types.js";
import type { BenchContext } from "./context.js";
import { drainWorkload, type DrainSummary } from "./drain.js";

/** The bench task with both limits set far above anything this machine runs: they are checked, never hit. */
export const LIMITS_NOT_HIT = { concurrency: 100_000, rateLimit: { max: 1_000_000, per: "1s" } } as const;
export const LIMITED_ID: SystemId = "pgmill[limits not hit]";

export interface LimitsStep {
  readonly kind: JobKind;
  readonly summary: DrainSummary;
  /** The limited task's throughput over the unlimited one's (median of the per-round ratios): 1 = free. */
  readonly limitedOverUnlimited: number | undefined;
}

export interface LimitsSummary {
  readonly limits: typeof LIMITS_NOT_HIT;
  readonly steps: LimitsStep[];
}

/**
 * Workload 8 (`limits`): what `concurrency` and `rateLimit` cost when they are
 * not hit. pgmill with defaults drains the same backlog through the bench task
 * as it is, and through the same task with both limits set far above the load,
 * side by side in each round (a fresh database each): every attempt then takes
 * a slot and a rate start (two database round trips, each serialised per task)
 * and gives the slot back.
 */
export async function limitsWorkload(ctx: BenchContext, sizes: { noop: number; io: number }, capMs: number): Promise<LimitsSummary | null> {
  const template = ctx.templates.get("pgmill");
  if (!template) {
    ctx.log("limits: skipped (needs the pgmill system in --systems)");
    return null;
  }
  const adapters = [new PgmillAdapter(), new PgmillAdapter({}, LIMITED_ID, LIMITS_NOT_HIT)];
  const limitsCtx: BenchContext = { ...ctx, adapters, templates: new Map([["pgmill", template], [LIMITED_ID, template]]) };
  const steps: LimitsStep[] = [];
  for (const [kind, n] of [["noop", sizes.noop], ["io5", sizes.io]] as const) {
    const summary = await drainWorkload(limitsCtx, `limits ${kind}`, n, kind, { capMs, attempts: n });
    const ratio = summary.pgmillRatio[LIMITED_ID];
    steps.push({ kind, summary, limitedOverUnlimited: ratio === undefined ? undefined : 1 / ratio });
  }
  return { limits: LIMITS_NOT_HIT, steps };
}
