import { setTimeout as sleep } from "node:timers/promises";

export { sleep };

/**
 * What a benchmark job does, carried in its payload so every system runs the
 * same jobs:
 * - `noop`: returns at once;
 * - `io5`: awaits 5 ms of (simulated) I/O;
 * - `fail-once`: every fifth job (i % 5 == 0, 20%) throws on its first attempt, then succeeds;
 * - `latency`: records when the handler started (enqueue-to-start latency).
 */
export const JOB_KINDS = ["noop", "io5", "fail-once", "latency"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export interface BenchPayload {
  readonly i: number;
  readonly k: JobKind;
}

export const FAIL_EVERY = 5;

/**
 * The in-process side of one measurement: every adapter's handler calls
 * `handle`, which does the job's work and counts it. Counting in-process only
 * tells the harness when to start asking the database; completion is always
 * confirmed there (a returned handler is not yet a completed job).
 */
export class JobProbe {
  started = 0;
  succeeded = 0;
  failed = 0;
  private readonly failedOnce = new Set<number>();
  /** Handler start (performance.now()) per job index, for `latency` jobs. */
  readonly startedAt = new Map<number, number>();
  private waiters: (() => void)[] = [];

  async handle(payload: BenchPayload): Promise<void> {
    const now = performance.now();
    this.started++;
    switch (payload.k) {
      case "latency":
        if (!this.startedAt.has(payload.i)) this.startedAt.set(payload.i, now);
        break;
      case "io5":
        await sleep(5);
        break;
      case "fail-once":
        if (payload.i % FAIL_EVERY === 0 && !this.failedOnce.has(payload.i)) {
          this.failedOnce.add(payload.i);
          this.failed++;
          throw new Error(`bench: job ${payload.i} fails on its first attempt`);
        }
        break;
      case "noop":
        break;
    }
    this.succeeded++;
    if (this.waiters.length) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves once `succeeded >= n` or at `deadline` (performance.now() ms), whichever is first. */
  async untilSucceeded(n: number, deadline: number): Promise<boolean> {
    while (this.succeeded < n) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }
}

/** The deadline passed with jobs still unfinished (the system was slow, not broken). */
export class DeadlineError extends Error {
  constructor(
    readonly what: string,
    readonly left: number,
  ) {
    super(`${what}: ${left} jobs still not completed at the deadline`);
  }
}

/**
 * Polls `remaining()` until it reports 0, bounded by `deadline`; returns the
 * performance.now() at which the queue was seen empty.
 */
export async function pollUntilEmpty(
  remaining: () => Promise<number>,
  deadline: number,
  everyMs: number,
  what: string,
): Promise<number> {
  for (;;) {
    const left = await remaining();
    const now = performance.now();
    if (left === 0) return now;
    if (now > deadline) throw new DeadlineError(what, left);
    await sleep(everyMs);
  }
}
