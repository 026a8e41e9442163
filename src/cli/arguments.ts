import { z } from "zod";
import { issueMessage } from "../config/issue-message.js";
import { JOB_LIMITS } from "../engine/job-limits.js";
import { PgmillProblemsError } from "../errors.js";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

const HUNDRED_YEARS = 100 * 365 * UNITS.d!;

/** "90s", "15m", "12h", "30d", "2w" (or a sum like "1d12h") to seconds; at most a hundred years. */
export const durationSeconds = z
  .string()
  .regex(/^(\d+[smhdw])+$/, "expected a duration such as 90s, 15m, 12h, 30d or 2w")
  .transform((text) => [...text.matchAll(/(\d+)([smhdw])/g)].reduce((sum, [, n, unit]) => sum + Number(n) * UNITS[unit!]!, 0))
  .refine((seconds) => seconds <= HUNDRED_YEARS, "at most 100 years");

export const positiveInt = z.coerce.number().int().min(1);

/** Postgres smallint, as the engine stores priority and attempts. */
export const smallint = z.coerce.number().int().min(JOB_LIMITS.smallintMin).max(JOB_LIMITS.smallintMax);

/** A job or dead-letter id: a positive bigint, kept as a string. */
export const bigintId = z
  .string()
  .regex(/^\d+$/, "expected a numeric id")
  // zod runs every check even after one fails, so this one must not assume the regex passed.
  .refine((id) => !/^\d+$/.test(id) || (BigInt(id) >= 1n && BigInt(id) <= 9223372036854775807n), "out of range for an id");

/**
 * Validates a command's arguments with zod and reports every problem at once,
 * each named by its flag (`--limit: ...`) or, for positional arguments listed
 * in `positional`, by the name its usage line shows (`<id>: ...`).
 */
export function parseArguments<S extends z.ZodType>(
  schema: S,
  values: Record<string, unknown>,
  positional: Record<string, string> = {},
): z.output<S> {
  const result = schema.safeParse(values);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? "");
    const flag = positional[key] ?? (key ? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : "arguments");
    return `${flag}: ${issueMessage(issue)}`;
  });
  throw new PgmillProblemsError("PGMILL_INVALID_CONFIG", "Invalid arguments:", problems);
}
