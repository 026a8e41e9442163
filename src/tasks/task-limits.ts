import { z } from "zod";
import { issueMessage } from "../config/issue-message.js";

// A task's cluster-wide limits (`defineTask({ concurrency, rateLimit })`),
// enforced by src/controls/task-limits-check.ts over every daemon.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Windows shorter than this would cost a database round trip per start for nothing. */
const MIN_WINDOW_MS = 100;
const MAX_WINDOW_MS = UNIT_MS.d!;

/** "1s", "500ms", "1m", "1h30m" (or a number of milliseconds) to milliseconds. */
const window = z
  .union(
    [
      z.number(),
      z
        .string()
        .regex(/^(\d+(\.\d+)?(ms|s|m|h|d))+$/)
        .transform((text) =>
          [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)].reduce((sum, [, n, unit]) => sum + Number(n) * UNIT_MS[unit!]!, 0),
        ),
    ],
    { error: () => "expected a duration such as 1s, 500ms, 1m or 1h" },
  )
  .refine((ms) => ms >= MIN_WINDOW_MS && ms <= MAX_WINDOW_MS, `must be from ${MIN_WINDOW_MS}ms to 1d`);

const count = (what: string) =>
  z.number({ error: `expected a whole number of ${what}` }).int(`expected a whole number of ${what}`).min(1, "must be at least 1").max(1_000_000, "must be at most 1000000");

export const taskLimitsSchema = z.object({
  /** At most this many attempts of the task running at once, over all daemons. */
  concurrency: count("attempts").optional(),
  /** At most `max` attempts started per window of `per`, over all daemons. */
  rateLimit: z.strictObject({ max: count("attempts"), per: window }, { error: (issue) => (issue.code === "invalid_type" ? 'expected { max: 10, per: "1s" }' : undefined) }).optional(),
});

/** What `defineTask` takes. */
export interface TaskLimitsInput {
  /** At most N attempts of this task running at once over all daemons. */
  readonly concurrency?: number;
  /** At most `max` attempts started per `per` ("1s", "1m", ...; fixed windows aligned to the epoch) over all daemons. */
  readonly rateLimit?: { readonly max: number; readonly per: string | number };
}

/** A task's parsed limits; null fields are not set. */
export interface TaskLimits {
  readonly concurrency: number | null;
  readonly rate: { readonly max: number; readonly perMs: number } | null;
}

/** Parses a task's limits; problems come back in words, each naming its field (`rateLimit.per: ...`). */
export function parseTaskLimits(value: TaskLimitsInput | undefined): { limits: TaskLimits | null } | { problems: string[] } {
  const result = taskLimitsSchema.safeParse({ concurrency: value?.concurrency, rateLimit: value?.rateLimit });
  if (!result.success) {
    return {
      problems: result.error.issues.map((issue) => {
        const where = issue.path.map((key) => (typeof key === "number" ? `[${key}]` : String(key))).join(".");
        return `${where}: ${issueMessage(issue)}`;
      }),
    };
  }
  const { concurrency, rateLimit } = result.data;
  if (concurrency === undefined && rateLimit === undefined) return { limits: null };
  return { limits: { concurrency: concurrency ?? null, rate: rateLimit ? { max: rateLimit.max, perMs: rateLimit.per } : null } };
}

const parsed = new WeakMap<object, TaskLimits | null>();

/** The limits of a task (validated by defineTask), parsed once. */
export function taskLimitsOf(task: TaskLimitsInput & { readonly name?: string }): TaskLimits | null {
  if (task.concurrency === undefined && task.rateLimit === undefined) return null;
  let limits = parsed.get(task);
  if (limits === undefined) {
    const result = parseTaskLimits(task);
    if ("problems" in result) throw new TypeError(`task ${String(task.name)}: ${result.problems.join("; ")}`);
    limits = result.limits;
    parsed.set(task, limits);
  }
  return limits;
}
