import type { z } from "zod";

/**
 * zod's message for one problem, said for people typing settings and flags:
 * a value that is not a number at all reads "expected a number", not zod's
 * "expected number, received NaN" (its coercion's view of it).
 */
export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && issue.expected === "number") return "expected a number";
  return issue.message;
}
