import type { RescheduleReason } from "../db/schema.js";
import type { ClaimedJob } from "../engine/task-list.js";
import type { AnyTask } from "../tasks/define-task.js";

/** Why a claimed job was handed back unrun; also the `reason` label of pgmill_jobs_parked_total. */
export const PARK_REASONS = ["paused", "concurrency", "rate_limit"] as const satisfies readonly RescheduleReason[];
export type ParkReason = (typeof PARK_REASONS)[number];

/**
 * A check's word on one claimed job. `park` hands it back without running it
 * and without spending its attempt, to be fetched again at `until`; `until`
 * null holds it until its task is resumed (only `paused` does that).
 */
export type GateVerdict = { readonly admit: true } | { readonly admit: false; readonly reason: ParkReason; readonly until: Date | null };

export const ADMIT: GateVerdict = Object.freeze({ admit: true });

/**
 * One rule the attempt runner consults before a handler runs. Checks are
 * given to the gate when the daemon is assembled; a new control adds one
 * without touching the runner.
 */
export interface GateCheck {
  readonly name: string;
  check(job: ClaimedJob, task: AnyTask): GateVerdict | Promise<GateVerdict>;
  /**
   * The job this check admitted has finished (its history row is written), or
   * a later check parked it: give back whatever `check` took (a slot, say).
   */
  release?(job: ClaimedJob, task: AnyTask): void | Promise<void>;
}

/**
 * Asks each check in order; the first that parks decides, and the checks
 * that had admitted the job release it again (also when a check throws). An admitted job is released by
 * the runner through `finished` once its attempt is over.
 */
export class TaskGate {
  constructor(private readonly checks: readonly GateCheck[] = []) {}

  async admit(job: ClaimedJob, task: AnyTask): Promise<GateVerdict> {
    for (let i = 0; i < this.checks.length; i++) {
      let verdict: GateVerdict;
      try {
        verdict = await this.checks[i]!.check(job, task);
      } catch (error) {
        await this.release(this.checks.slice(0, i), job, task).catch(() => undefined);
        throw error;
      }
      if (verdict.admit) continue;
      await this.release(this.checks.slice(0, i), job, task);
      return verdict;
    }
    return ADMIT;
  }

  /** After an admitted attempt: every check releases what it took. */
  finished(job: ClaimedJob, task: AnyTask): Promise<void> {
    return this.release(this.checks, job, task);
  }

  private async release(checks: readonly GateCheck[], job: ClaimedJob, task: AnyTask): Promise<void> {
    for (const check of checks) await check.release?.(job, task);
  }
}
