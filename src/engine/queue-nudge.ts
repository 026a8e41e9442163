import type { WorkerEvents, WorkerPool } from "graphile-worker";

/**
 * When a job of a named queue finishes, the queue's next job should start at
 * once. graphile-worker 0.18 fetches one job per queue per batch (its fix for
 * graphile/worker#621), and finishing a job sends no NOTIFY, so with nothing
 * else arriving a freed queue waits for the next poll (2 s). The completion
 * (or failure) that unlocks the queue is batched, and no event marks its
 * commit, so the pool is nudged (its public `nudge`, as a NOTIFY would) just
 * after the batch should have landed, and once more a little later in case it
 * had not. No upstream issue yet; guard: tests/daemon/serial-queues.test.ts.
 */
export function nudgeFreedQueues(events: WorkerEvents, batchDelayMs: number): void {
  let pool: WorkerPool | null = null;
  const delays = [batchDelayMs + 20, batchDelayMs + 250];
  events.on("pool:create", ({ workerPool }) => (pool = workerPool));
  events.on("job:complete", ({ job }) => {
    if (job.job_queue_id === null) return;
    // A pool that has stopped meanwhile ignores the nudge.
    const nudged = pool;
    for (const delay of delays) setTimeout(() => nudged?.nudge(1), delay).unref();
  });
}

/** Nudges whichever pool is current: one that has stopped ignores it. */
export type PoolNudge = (count?: number) => void;

/**
 * graphile-worker's `reschedule_jobs` sends no NOTIFY, so a job it makes due
 * (a parked job's next try, a resumed task's held jobs) would wait for the
 * next poll (2 s): the daemon that applied it nudges its own pool.
 */
export function poolNudge(events: WorkerEvents): PoolNudge {
  let pool: WorkerPool | null = null;
  events.on("pool:create", ({ workerPool }) => (pool = workerPool));
  return (count = 1) => pool?.nudge(count);
}
