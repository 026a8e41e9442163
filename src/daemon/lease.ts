/** A daemon acts on its locks only within this fraction of PGMILL_DEAD_AFTER since its last confirmed beat. */
const FENCE_FRACTION = 0.5;
const RECHECK_MS = 250;

/**
 * What this daemon can prove about holding its job locks, by its own
 * monotonic clock. Peers reap a daemon whose `last_seen` is older than
 * dead-after (by the database's clock); this daemon stops starting and
 * completing attempts well before that, at half of it, until a beat confirms
 * its row is still alive. Each identity is an epoch: an attempt started under
 * an epoch that was reaped can never be confirmed again.
 */
export class Lease {
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private steadySince: number | null = null;
  private epochNow = 0;
  private closed = false;
  /** Settles when the current epoch is lost: waiters need not wait for the beat that found out (it rejoins first). */
  private lost = Promise.withResolvers<void>();

  constructor(
    private readonly deadAfterMs: number,
    /** Beats once now (success or failure); the lease learns the result through confirm/fail/lose. */
    private readonly beatNow: () => Promise<void>,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  get epoch(): number {
    return this.epochNow;
  }

  /** A beat sent at `sentAt` found this daemon's row alive. */
  confirm(sentAt: number): void {
    this.confirmedAt = Math.max(this.confirmedAt, sentAt);
    this.steadySince ??= sentAt;
  }

  /** A beat failed (the database did not answer). */
  fail(): void {
    this.steadySince = null;
  }

  /** A peer reaped this daemon: nothing under the current epoch may act again. */
  lose(): void {
    this.lost.resolve();
    this.lost = Promise.withResolvers<void>();
    this.epochNow++;
    this.confirmedAt = Number.NEGATIVE_INFINITY;
    this.steadySince = null;
  }

  /** The daemon has stopped: nothing waits for a beat any more. */
  close(): void {
    this.closed = true;
  }

  /** Held now, by the last confirmed beat. */
  fresh(epoch = this.epochNow): boolean {
    return epoch === this.epochNow && this.clock() - this.confirmedAt < this.deadAfterMs * FENCE_FRACTION;
  }

  /** How long beats have succeeded without a gap (0 after a failure): what a reaper must wait out. */
  steadyForMs(): number {
    return this.steadySince === null ? 0 : this.clock() - this.steadySince;
  }

  /**
   * Resolves true once the lease of `epoch` is fresh (at once if it is),
   * beating to find out; false if that epoch was reaped or `signal` aborted.
   */
  async confirmed(epoch: number, signal?: AbortSignal): Promise<boolean> {
    while (!signal?.aborted && !this.closed) {
      if (epoch !== this.epochNow) return false;
      if (this.fresh(epoch)) return true;
      const lost = this.lost.promise;
      await Promise.race([this.beatNow(), lost]);
      if (epoch !== this.epochNow) return false;
      if (this.fresh(epoch)) return true;
      await new Promise((resolve) => setTimeout(resolve, RECHECK_MS));
    }
    return false;
  }
}
