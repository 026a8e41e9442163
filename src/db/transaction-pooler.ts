import pg from "pg";
import { PgmillError } from "../errors.js";

/** Statements per connection: enough for a pooler to hand a server connection around at least once. */
const ROUNDS = 4;

/**
 * Whether `connectionString` reaches Postgres through a transaction-mode (or
 * statement-mode) pooler: the server session behind a client connection is
 * not its own. Two connections alternate `pg_backend_pid()`; directly or
 * through a session-mode pooler each keeps one backend for its life, while a
 * transaction pooler hands server connections out per transaction, so one
 * client's backend changes or the other client gets the same one (PgBouncer
 * reuses the server connection released last).
 */
export async function isTransactionPooled(connectionString: string): Promise<boolean> {
  const clients = [0, 1].map(() => new pg.Client({ connectionString, connectionTimeoutMillis: 10_000, application_name: "pgmill-pooler-check" }));
  for (const client of clients) client.on("error", () => undefined);
  try {
    for (const client of clients) await client.connect();
    const seen = clients.map(() => new Set<number>());
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, client] of clients.entries()) {
        const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
        seen[i]!.add(rows[0]!.pid);
      }
    }
    const [a, b] = seen as [Set<number>, Set<number>];
    return a.size > 1 || b.size > 1 || [...a].some((pid) => b.has(pid));
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }
}

/**
 * Stops a daemon (or command) that would need a session where it has none:
 * LISTEN, session advisory locks and migrations break or leak behind a
 * transaction pooler. One line, naming what to set; never the URL itself.
 */
export async function refuseTransactionPooling(urls: { readonly connectionString: string; readonly sessionConnectionString: string; readonly direct: boolean }): Promise<void> {
  if (!(await isTransactionPooled(urls.sessionConnectionString))) return;
  throw new PgmillError(
    "PGMILL_TRANSACTION_POOLER",
    urls.direct
      ? "PGMILL_DIRECT_URL goes through a transaction-mode pooler (the server session changed between statements of one connection): " +
          "point it at Postgres itself or at a session-mode pooler; DATABASE_URL may stay pooled"
      : "DATABASE_URL goes through a transaction-mode pooler (the server session changed between statements of one connection): " +
          "set PGMILL_DIRECT_URL to a direct or session-mode connection for LISTEN, locks and migrations, and keep DATABASE_URL pooled",
  );
}
