import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { ConnectionCap, type CapChange } from "./connection-cap.js";
import type { Database } from "./schema.js";

// bigint (int8) ids stay strings, as graphile-worker hands them out; counts are
// cast in SQL where a number is wanted.

export type Db = Kysely<Database>;

export interface DatabaseHandle {
  readonly pool: pg.Pool;
  readonly db: Db;
  close(): Promise<void>;
}

/**
 * One pg pool shared by graphile-worker and pgmill's own queries, so the
 * connection budget is a single number.
 */
export function openDatabase(
  connectionString: string,
  options: {
    maxConnections: number;
    applicationName?: string;
    onError?: (error: Error) => void;
    /** The server refused a connection below the pool's size (53300), or room came back. */
    onCapChange?: (change: CapChange) => void;
  },
): DatabaseHandle {
  const cap = new ConnectionCap(options.maxConnections, connectionString, (change) => options.onCapChange?.(change));
  const pool = new pg.Pool({
    connectionString,
    Client: cap.clientClass(),
    max: options.maxConnections,
    application_name: options.applicationName ?? "pgmill",
    // A server that vanishes without closing the socket is noticed, not waited on forever.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  let closed: Promise<void> | undefined;
  // Errors of idle clients (a server restart) would otherwise crash the process;
  // graphile-worker also expects each client to carry a handler. Once the pool
  // is closing, a connection the server ends (an embedded server stopping
  // right after) is expected, not news.
  const onError = (error: Error) => (closed ? undefined : options.onError?.(error));
  pool.on("error", onError);
  pool.on("connect", (client) => client.on("error", onError));
  cap.attach(pool);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    pool,
    db,
    close: () => {
      cap.stop();
      return (closed ??= db.destroy());
    },
  };
}
