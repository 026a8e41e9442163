/** An attempt as pgmill.job_runs records it (a `lost` row spans the lock to the reaper's release). */
export interface TimedAttempt {
  readonly job_id: string;
  readonly started_at: Date;
  readonly finished_at: Date;
}

/**
 * Pairs of attempts by different jobs that were running at the same moment;
 * a serial named queue has none. (Two rows of one job can overlap only when a
 * daemon died between its history row and completing the job: the reaper's
 * `lost` row then spans the finished attempt. That is one job, not two.)
 */
export function overlappingAttempts<T extends TimedAttempt>(attempts: readonly T[]): [T, T][] {
  const pairs: [T, T][] = [];
  for (const [i, a] of attempts.entries()) {
    for (const b of attempts.slice(i + 1)) {
      if (a.job_id !== b.job_id && a.started_at < b.finished_at && b.started_at < a.finished_at) pairs.push([a, b]);
    }
  }
  return pairs;
}

/** Milliseconds from each attempt's end to the next one's start, in start order: a serial queue's idle time between jobs. */
export function idleGaps(attempts: readonly TimedAttempt[]): number[] {
  const ordered = [...attempts].sort((a, b) => a.started_at.getTime() - b.started_at.getTime());
  return ordered.slice(1).map((next, i) => next.started_at.getTime() - ordered[i]!.finished_at.getTime());
}

/** The most attempts running at one instant, from their history rows (an end before a start at the same instant). */
export function maxOverlap(attempts: readonly Pick<TimedAttempt, "started_at" | "finished_at">[]): number {
  const edges = attempts.flatMap((r) => [
    { at: r.started_at.getTime(), step: 1 },
    { at: r.finished_at.getTime(), step: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let running = 0;
  let most = 0;
  for (const { step } of edges) most = Math.max(most, (running += step));
  return most;
}
