import { z } from "zod";
import { durationSeconds } from "../cli/arguments.js";
import { issueMessage } from "../config/issue-message.js";

// Page filters arrive as query strings; each page validates its own with zod,
// and a bad one is a 400 naming the parameter, not a guess.

export class BadRequest extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`bad request: ${problems.join("; ")}`);
    this.name = "BadRequest";
  }
}

/** A UTC time as a datetime-local input sends it (2026-12-01T03:00), or any ISO instant with its offset. */
export const instant = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$/, "expected a time like 2026-12-01T03:00 (UTC)")
  .transform((text, ctx) => {
    const date = new Date(/(Z|[+-]\d{2}:\d{2})$/.test(text) ? text : `${text}Z`);
    if (Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: "custom", message: "not a valid time" });
      return z.NEVER;
    }
    return date;
  });

export const since = durationSeconds;
export const name = z.string().min(1).max(512);

/** Parses query parameters (empty ones count as absent) or throws BadRequest naming each bad one. */
export function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, string>): z.output<S> {
  const given = Object.fromEntries(Object.entries(query).filter(([, value]) => value !== ""));
  const result = schema.safeParse(given);
  if (result.success) return result.data;
  throw new BadRequest(result.error.issues.map((issue) => `${String(issue.path[0] ?? "query")}: ${issueMessage(issue)}`));
}

/** The value for a datetime-local input showing this instant in UTC. */
export function inputTime(date: Date | undefined): string {
  return date ? date.toISOString().slice(0, 16) : "";
}
