import type { Db } from "../db/database.js";
import type { PoolNudge } from "../engine/queue-nudge.js";
import type { ClaimedJob } from "../engine/task-list.js";
import type { Logger } from "../logging/logger.js";
import { taskLimitsOf } from "../tasks/task-limits.js";
import { releaseTaskSlot, takeTaskRate, takeTaskSlot } from "./task-limit-queries.js";
import { ADMIT, type GateCheck, type GateVerdict, type ParkReason } from "./task-gate.js";

/**
 * A job refused a slot comes back after this long times the number of full
 * "rounds" of the limit ahead of it (waiting / limit), capped: a release wakes
 * the oldest waiter at once, so this is only the fallback when a wake is
 * missed, and a long queue does not come back to be refused every 250 ms.
 */
export const SLOT_RETRY_MS = 250;
export const SLOT_RETRY_MAX_MS = 10_000;
/** When the database did not answer the check: park (the limit must hold), try again after this. */
const CHECK_FAILED_RETRY_MS = 1_000;

export interface TaskLimitsCheckDeps {
  readonly db: Db;
  /** This daemon's id now (it changes when the daemon rejoins after a reaping). */
  readonly daemonId: () => string;
  /** Nudges this daemon's pool: jobs a release made due now have no NOTIFY. */
  readonly nudge: PoolNudge;
  readonly logger: Logger;
  /** This daemon's count of slots held for `task` changed (metrics). */
  readonly onSlots?: (task: string, held: number) => void;
}

/**
 * The gate check of `concurrency` and `rateLimit` (src/tasks/task-limits.ts):
 * a slot first (so a job refused for concurrency spends no rate start), then a
 * start in the rate window. Over a limit, the job is parked (not run, attempt
 * not spent): until shortly later for a slot, until its window for the rate.
 * An admitted attempt's slot is given back in `release`, which the runner calls
 * whatever the outcome; a lost release cannot leak (sql/0011).
 */
export function taskLimitsCheck(deps: TaskLimitsCheckDeps): GateCheck {
  const holding = new Set<string>();
  const held = new Map<string, number>();
  const count = (task: string, delta: number) => {
    const n = (held.get(task) ?? 0) + delta;
    held.set(task, n);
    deps.onSlots?.(task, n);
  };
  const giveBack = async (job: ClaimedJob) => {
    if (!holding.delete(job.id)) return;
    count(job.task, -1);
    const woken = await releaseTaskSlot(deps.db, job.id);
    if (woken) deps.nudge(woken);
  };
  const park = (reason: ParkReason, inMs: number): GateVerdict => ({ admit: false, reason, until: new Date(Date.now() + inMs) });

  return {
    name: "limits",
    async check(job, task) {
      const limits = taskLimitsOf(task);
      if (!limits) return ADMIT;
      let reason: ParkReason = "concurrency";
      try {
        if (limits.concurrency !== null) {
          const waiting = await takeTaskSlot(deps.db, {
            task: job.task,
            limit: limits.concurrency,
            jobId: job.id,
            lockId: job.lockedBy ?? "",
            daemonId: deps.daemonId(),
          });
          // Not locked by this daemon any more: the park finds that too and the attempt ends as stale.
          if (waiting === null) return park("concurrency", 0);
          if (waiting > 0) return park("concurrency", slotRetryMs(waiting, limits.concurrency));
          holding.add(job.id);
          count(job.task, 1);
        }
        if (limits.rate) {
          reason = "rate_limit";
          const retryAt = await takeTaskRate(deps.db, { task: job.task, ...limits.rate });
          if (retryAt) {
            await giveBack(job);
            return { admit: false, reason: "rate_limit", until: retryAt };
          }
        }
        return ADMIT;
      } catch (error) {
        deps.logger.warn({ err: error, task: job.task, jobId: job.id }, "checking the task's limits failed; the job waits and is tried again");
        await giveBack(job).catch(() => undefined);
        return park(reason, CHECK_FAILED_RETRY_MS);
      }
    },
    release: (job) => giveBack(job),
  };
}

/** How long a job refused a slot waits unless woken: a round of the limit per SLOT_RETRY_MS, ±20 % so they do not all return at once. */
export function slotRetryMs(waiting: number, limit: number): number {
  const base = Math.min(SLOT_RETRY_MAX_MS, SLOT_RETRY_MS * Math.max(1, Math.ceil(waiting / limit)));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
