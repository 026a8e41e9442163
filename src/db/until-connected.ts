import type { Logger } from "../logging/logger.js";

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

/** SQLSTATEs that mean "not now" rather than "never". */
const TRANSIENT_SQLSTATES: Readonly<Record<string, string>> = {
  "53300":
    "too many connections: a CONNECTION LIMIT of the role or database, or the server's max_connections, is reached " +
    "(lower PGMILL_DB_POOL_SIZE or raise the limit)",
  "57P01": "the server is shutting down",
  "57P02": "the server is shutting down",
  "57P03": "the server is starting up or shutting down",
};
const TRANSIENT_NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND"]);
/** pg's own wording for a server that went away or a pool wait that ran out. */
const TRANSIENT_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|connection timeout/i;

/**
 * Whether `error` is one a database coming back (or freeing a connection)
 * would cure: class 08 connection exceptions, too many connections,
 * shutdown/start-up, refused or timed-out sockets. Not bad credentials, a
 * missing database or a failed migration: waiting does not cure those.
 */
export function transientConnectionCause(error: unknown): string | null {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string") {
    if (TRANSIENT_SQLSTATES[code]) return `${TRANSIENT_SQLSTATES[code]} (SQLSTATE ${code})`;
    if (code.startsWith("08")) return `connection exception (SQLSTATE ${code})`;
    if (TRANSIENT_NODE_CODES.has(code)) return `the server cannot be reached (${code})`;
  }
  if (typeof message === "string" && TRANSIENT_MESSAGES.test(message)) return "the connection failed or timed out";
  return null;
}

/**
 * Runs `attempt` (the daemon's first use of the database) until it succeeds,
 * waiting out transient connection failures with backoff and a log line that
 * names the cause, rather than exiting into a crash loop. Any other error is
 * thrown at once.
 */
export async function untilConnected<T>(what: string, attempt: () => Promise<T>, logger: Logger): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await attempt();
    } catch (error) {
      const cause = transientConnectionCause(error);
      if (!cause) throw error;
      const retryInMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** failures);
      logger.error(
        { err: error, cause, retryInMs, failures: failures + 1 },
        `cannot ${what}: ${cause}: ${error instanceof Error ? error.message : String(error)}; retrying in ${retryInMs} ms`,
      );
      await new Promise((resolve) => setTimeout(resolve, retryInMs));
    }
  }
}
