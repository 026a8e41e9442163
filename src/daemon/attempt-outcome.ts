import { z } from "zod";
import type { DeadLetterReason, RunStatus } from "../db/schema.js";
import { PermanentError } from "../tasks/permanent-error.js";

/** How one attempt ended, and what that means for the job. */
export type AttemptOutcome =
  | { readonly status: "succeeded" }
  | { readonly status: "failed" | "timed_out"; readonly error: Error }
  | { readonly status: "dead"; readonly reason: DeadLetterReason; readonly error: Error }
  /** An operator cancelled the job while this attempt ran: completed, neither retried nor dead-lettered. */
  | { readonly status: "cancelled"; readonly error: Error };

export class PayloadInvalidError extends Error {
  constructor(task: string, issues: z.core.$ZodIssue[]) {
    super(`payload does not match task ${task}: ${z.prettifyError(new z.ZodError(issues)).replaceAll("\n", "; ")}`);
    this.name = "PayloadInvalidError";
  }
}

export class AttemptTimeoutError extends Error {
  constructor(timeoutMs: number, cause?: unknown) {
    super(`timed out after ${timeoutMs}ms`, { cause });
    this.name = "AttemptTimeoutError";
  }
}

/** Classifies what a handler threw (or that it returned) into an outcome. */
export function classify(
  thrown: { error: unknown } | null,
  timedOut: AttemptTimeoutError | null,
  isLastAttempt: boolean,
): AttemptOutcome {
  if (!thrown && !timedOut) return { status: "succeeded" };
  const error = timedOut ?? toError(thrown!.error);
  if (!timedOut && error instanceof PermanentError) return { status: "dead", reason: "permanent_error", error };
  if (isLastAttempt) return { status: "dead", reason: "max_attempts", error };
  return { status: timedOut ? "timed_out" : "failed", error };
}

export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === "string" ? value : `non-error thrown: ${JSON.stringify(value) ?? String(value)}`);
}

export const RETRYING_STATUSES: ReadonlySet<RunStatus> = new Set(["failed", "timed_out"]);
