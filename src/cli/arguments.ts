import { z } from "zod";
import { PgmillProblemsError } from "../errors.js";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** "90s", "15m", "12h", "30d", "2w" (or a sum like "1d12h") to seconds. */
export const durationSeconds = z
  .string()
  .regex(/^(\d+[smhdw])+$/, "expected a duration such as 90s, 15m, 12h, 30d or 2w")
  .transform((text) => [...text.matchAll(/(\d+)([smhdw])/g)].reduce((sum, [, n, unit]) => sum + Number(n) * UNITS[unit!]!, 0));

export const positiveInt = z.coerce.number().int().min(1);

/**
 * Validates a command's arguments with zod and reports every problem at once,
 * each named by its flag (`--limit: ...`).
 */
export function parseArguments<S extends z.ZodType>(schema: S, values: Record<string, unknown>): z.output<S> {
  const result = schema.safeParse(values);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? "");
    const flag = key ? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : "arguments";
    return `${flag}: ${issue.message}`;
  });
  throw new PgmillProblemsError("PGMILL_INVALID_CONFIG", "Invalid arguments:", problems);
}
