const MAX_DEPTH = 5;

/**
 * Errors as pgmill logs them: type, message, code and stack, with their causes.
 * Every other field is left out on purpose: Postgres puts row values (a
 * payload) in `detail` and `where`, and Node's invalid-URL error keeps the
 * `input` (a connection string, password included). History rows keep the
 * whole error; logs get what identifies it.
 */
export function serializeError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error)) return typeof value === "object" && value !== null ? String(value) : value;
  const out: Record<string, unknown> = { type: value.name, message: value.message, stack: value.stack };
  const code = (value as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") out.code = code;
  if (depth < MAX_DEPTH) {
    if (value.cause !== undefined) out.cause = serializeError(value.cause, depth + 1);
    if (value instanceof AggregateError) out.errors = value.errors.map((error) => serializeError(error, depth + 1));
  }
  return out;
}
