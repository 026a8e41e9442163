/**
 * The reason a handler's `signal` carries when an operator cancelled its job
 * (`pgmill cancel`, `pgmill.cancel_job`): tell it apart from a timeout or a
 * shutdown with `signal.reason instanceof JobCancelledError` (or its name).
 */
export class JobCancelledError extends Error {
  constructor(
    readonly requestedBy: string,
    readonly requestedAt: Date,
  ) {
    super(`cancelled by ${requestedBy} at ${requestedAt.toISOString()} (pgmill.cancel_job)`);
    this.name = "JobCancelledError";
  }
}
