/** Failures seen across this long, with no success in between, mean "failing", not a blip. */
export const FAILING_FOR_MS = 10_000;
/** A streak whose last failure is older than this is over (completions have no success event to end it). */
export const STREAK_EXPIRES_MS = 60_000;

/**
 * One operation's run of failures with no success in between: failing once
 * its failures span FAILING_FOR_MS, until a success or STREAK_EXPIRES_MS
 * without another failure. One failed batch (a Postgres restart) is a blip;
 * failures that keep coming are what readiness must show.
 */
export class FailureStreak {
  private firstAt: number | null = null;
  private lastAt = 0;
  private lastMessage = "";

  constructor(private readonly now: () => number) {}

  failed(message: string): void {
    const now = this.now();
    if (this.firstAt === null || now - this.lastAt > STREAK_EXPIRES_MS) this.firstAt = now;
    this.lastAt = now;
    this.lastMessage = message;
  }

  succeeded(): void {
    this.firstAt = null;
  }

  /** null while healthy; else how long it has been failing and the last error. */
  failing(): { readonly forMs: number; readonly message: string } | null {
    if (this.firstAt === null || this.now() - this.lastAt > STREAK_EXPIRES_MS) return null;
    const spanMs = this.lastAt - this.firstAt;
    return spanMs >= FAILING_FOR_MS ? { forMs: this.now() - this.firstAt, message: this.lastMessage } : null;
  }
}
