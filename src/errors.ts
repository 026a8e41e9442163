/**
 * Errors users can act on carry a stable `code` (fastify-style), so scripts and
 * tests match on the code, never on the wording.
 */
export type PgmillErrorCode =
  | "PGMILL_INVALID_CONFIG"
  | "PGMILL_INVALID_CRONTAB"
  | "PGMILL_UNKNOWN_TASK"
  | "PGMILL_INVALID_TASKS"
  | "PGMILL_INVALID_PAYLOAD"
  | "PGMILL_NOT_FOUND"
  | "PGMILL_SCHEMA_NOT_CURRENT"
  | "PGMILL_CRONTAB_UNREADABLE"
  | "PGMILL_PORT_IN_USE"
  | "PGMILL_NO_DATABASE"
  | "PGMILL_EMBEDDED_IN_USE"
  | "PGMILL_TRANSACTION_POOLER";

export class PgmillError extends Error {
  constructor(
    readonly code: PgmillErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "PgmillError";
  }
}

/**
 * Runs every check, even after one fails, and reports the problems of all
 * that failed in one error (bad arguments and bad settings, say), so a user
 * fixes everything in one go. Returns each check's value.
 */
export function checkAll<const T extends readonly unknown[]>(checks: { readonly [K in keyof T]: () => T[K] }): T {
  const values: unknown[] = [];
  const failed: PgmillProblemsError[] = [];
  for (const check of checks) {
    try {
      values.push(check());
    } catch (error) {
      if (!(error instanceof PgmillProblemsError)) throw error;
      failed.push(error);
    }
  }
  if (failed.length === 1) throw failed[0];
  if (failed.length > 1) {
    throw new PgmillProblemsError(failed[0]!.code, "Invalid arguments and settings:", failed.flatMap((f) => f.problems));
  }
  return values as unknown as T;
}

/** Several problems found at once; each line says what and where. */
export class PgmillProblemsError extends PgmillError {
  constructor(
    code: PgmillErrorCode,
    heading: string,
    readonly problems: readonly string[],
  ) {
    super(code, `${heading}\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}
