/**
 * Errors users can act on carry a stable `code` (fastify-style), so scripts and
 * tests match on the code, never on the wording.
 */
export type PgmillErrorCode =
  | "PGMILL_INVALID_CONFIG"
  | "PGMILL_INVALID_CRONTAB"
  | "PGMILL_UNKNOWN_TASK"
  | "PGMILL_INVALID_PAYLOAD"
  | "PGMILL_NOT_FOUND"
  | "PGMILL_SCHEMA_NOT_CURRENT";

export class PgmillError extends Error {
  constructor(
    readonly code: PgmillErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "PgmillError";
  }
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
