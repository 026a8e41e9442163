import { z } from "zod";
import { issueMessage } from "../config/issue-message.js";

// A task's own retry schedule (`defineTask({ retry })`). Without one the
// engine's curve stays: exp(min(attempts, 10)) seconds after a failure.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** setTimeout's limit, and far beyond any sensible retry delay. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** "500ms", "1s", "1m30s", "2h" (or a number of milliseconds) to milliseconds. */
const duration = z
  .union(
    [
      z.number().nonnegative(),
      z
        .string()
        .regex(/^(\d+(\.\d+)?(ms|s|m|h|d))+$/)
        .transform((text) =>
          [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)].reduce((sum, [, n, unit]) => sum + Number(n) * UNIT_MS[unit!]!, 0),
        ),
    ],
    { error: () => "expected a duration such as 500ms, 1s, 1m30s or 2h" },
  )
  .refine((ms) => ms <= MAX_DELAY_MS, "at most 24 days");

const delays = z.strictObject({
  /** The delay after the first failure, the second, ...; the last repeats. */
  delays: z.array(duration).min(1, "needs at least one delay"),
});

const exponential = z.strictObject({
  exponential: z
    .strictObject({
      first: duration,
      factor: z.number().min(1, "must be at least 1").default(2),
      cap: duration.optional(),
      /** A fraction of the delay, added or taken away at random (0.1: ±10 %). */
      jitter: z.number().min(0, "must be from 0 to 1").max(1, "must be from 0 to 1").default(0),
    })
    .refine((e) => e.cap === undefined || e.cap >= e.first, { message: "must be at least first", path: ["cap"] }),
});

const EXPECTED = 'expected { delays: ["1m", "5m"] } or { exponential: { first: "1s", factor: 2, cap: "30s", jitter: 0.1 } }';

export const retryScheduleSchema = z.union([delays, exponential], { error: () => EXPECTED });

/** What `defineTask` takes. */
export type RetryScheduleInput = z.input<typeof retryScheduleSchema>;
/** The parsed schedule, in milliseconds. */
export type RetrySchedule = z.output<typeof retryScheduleSchema>;

/** Parses a task's `retry`; problems come back in words, each naming its field (`retry.delays[1]: ...`). */
export function parseRetrySchedule(value: unknown): { schedule: RetrySchedule } | { problems: string[] } {
  // The form is picked by its key, so problems are that form's, by field (a union would say only "neither").
  const form = value && typeof value === "object" ? ("delays" in value ? delays : "exponential" in value ? exponential : null) : null;
  if (!form) return { problems: [`retry: ${EXPECTED}`] };
  const result = form.safeParse(value);
  if (result.success) return { schedule: result.data };
  return {
    problems: result.error.issues.map((issue) => {
      const where = issue.path.reduce<string>((at, key) => (typeof key === "number" ? `${at}[${key}]` : `${at}.${String(key)}`), "retry");
      return `${where}: ${issueMessage(issue)}`;
    }),
  };
}

/** The delay before the attempt after attempt number `attempt` (1 for the first) failed. */
export function retryDelayMs(schedule: RetrySchedule, attempt: number, random: () => number = Math.random): number {
  const n = Math.max(1, attempt);
  if ("delays" in schedule) return schedule.delays[Math.min(n, schedule.delays.length) - 1]!;
  const { first, factor, cap, jitter } = schedule.exponential;
  const base = Math.min(first * factor ** (n - 1), cap ?? MAX_DELAY_MS, MAX_DELAY_MS);
  const spread = base * jitter * (2 * random() - 1);
  return Math.max(0, Math.min(cap ?? MAX_DELAY_MS, MAX_DELAY_MS, Math.round(base + spread)));
}

const parsed = new WeakMap<object, RetrySchedule | null>();

/** A task's schedule in milliseconds, or null for the engine's curve (parsed once per task). */
export function retryScheduleOf(task: { readonly retry?: unknown }): RetrySchedule | null {
  if (task.retry === undefined) return null;
  if (!parsed.has(task)) {
    const result = parseRetrySchedule(task.retry);
    parsed.set(task, "schedule" in result ? result.schedule : null);
  }
  return parsed.get(task)!;
}
