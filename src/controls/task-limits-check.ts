import type { Db } from "../db/database.js";
import type { PoolNudge } from "../engine/queue-nudge.js";
import type { ClaimedJob } from "../engine/task-list.js";
import type { Logger } from "../logging/logger.js";
import { taskLimitsOf } from "../tasks/task-limits.js";
import { Batcher } from "./limit-batches.js";
import { releaseTaskSlots, takeTaskLimits, type LimitAnswer, type LimitTake } from "./task-limit-queries.js";
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
  // Concurrent checks and releases go out together (limit-batches.ts).
  const takes = new Batcher<LimitTake, LimitAnswer>((batch) => takeTaskLimits(deps.db, deps.daemonId(), batch));
  const releases = new Batcher<string, number>(async (jobIds) => {
    const woken = await releaseTaskSlots(deps.db, jobIds);
    if (woken) deps.nudge(woken);
    return jobIds.map(() => woken);
  });
  const count = (task: string, delta: number) => {
    const n = (held.get(task) ?? 0) + delta;
    held.set(task, n);
    deps.onSlots?.(task, n);
  };
  const giveBack = async (job: ClaimedJob) => {
    if (!holding.delete(job.id)) return;
    count(job.task, -1);
    await releases.call(job.id);
  };
  const park = (reason: ParkReason, inMs: number): GateVerdict => ({ admit: false, reason, until: new Date(Date.now() + inMs) });

  return {
    name: "limits",
    async check(job, task) {
      const limits = taskLimitsOf(task);
      if (!limits) return ADMIT;
      let answer: LimitAnswer;
      try {
        answer = await takes.call({ task: job.task, jobId: job.id, lockId: job.lockedBy ?? "", concurrency: limits.concurrency, rate: limits.rate });
      } catch (error) {
        // Whatever the batch took is not counted once this job is unlocked (the park fails it), so nothing leaks.
        deps.logger.warn({ err: error, task: job.task, jobId: job.id }, "checking the task's limits failed; the job waits and is tried again");
        return park(limits.concurrency !== null ? "concurrency" : "rate_limit", CHECK_FAILED_RETRY_MS);
      }
      // Not locked by this daemon any more: the park finds that too and the attempt ends as stale.
      if (answer.waiting === null) return park("concurrency", 0);
      if (answer.waiting > 0) return park("concurrency", slotRetryMs(answer.waiting, limits.concurrency ?? 1));
      if (answer.retryAt) return { admit: false, reason: "rate_limit", until: answer.retryAt };
      if (limits.concurrency !== null) {
        holding.add(job.id);
        count(job.task, 1);
      }
      return ADMIT;
    },
    release: (job) => giveBack(job),
  };
}

/** How long a job refused a slot waits unless woken: a round of the limit per SLOT_RETRY_MS, ±20 % so they do not all return at once. */
export function slotRetryMs(waiting: number, limit: number): number {
  const base = Math.min(SLOT_RETRY_MAX_MS, SLOT_RETRY_MS * Math.max(1, Math.ceil(waiting / limit)));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
