import type { DatabaseTarget } from "../db/connect.js";
import { openDatabase, type DatabaseHandle } from "../db/database.js";
import type { Logger } from "../logging/logger.js";

/** A daemon's connections outside the shared pool, on the session URL (PGMILL_DIRECT_URL, else DATABASE_URL). */
export interface SessionConnections {
  /** The heartbeat's own connection: a busy or starved shared pool never delays a beat, so a live daemon is not reaped. */
  readonly heartbeat: DatabaseHandle;
  /** graphile-worker's LISTEN, when DATABASE_URL may be a transaction pooler; null: it uses the shared pool. */
  readonly listen: DatabaseHandle | null;
  close(): Promise<void>;
}

export function openSessionConnections(target: DatabaseTarget, logger: Logger): SessionConnections {
  const onError = (what: string) => (error: Error) => logger.warn({ err: error }, `${what} connection lost`);
  const heartbeat = openDatabase(target.sessionConnectionString, {
    maxConnections: 1,
    applicationName: "pgmill-heartbeat",
    onError: onError("heartbeat"),
  });
  // Two: a pool being replaced may still hold its LISTEN client while the new one connects.
  const listen = target.direct
    ? openDatabase(target.sessionConnectionString, { maxConnections: 2, applicationName: "pgmill-listen", onError: onError("LISTEN") })
    : null;
  return {
    heartbeat,
    listen,
    close: async () => {
      await Promise.all([heartbeat.close(), listen?.close()]);
    },
  };
}
