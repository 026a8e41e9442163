/**
 * Thrown by a handler when retrying cannot help (a 404, a deleted account):
 * the job goes straight to dead letters instead of using up its attempts.
 */
export class PermanentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PermanentError";
  }
}
