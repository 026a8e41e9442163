import { sql } from "kysely";
import type { Logger } from "../logging/logger.js";
import type { Db } from "./database.js";

/** How often a wait for a lock is reported while it lasts. */
export const LOCK_WAIT_REPORT_MS = 5_000;

export interface LockHolder {
  readonly waitingPid: number;
  readonly waitingSeconds: number;
  readonly pid: number;
  readonly applicationName: string;
  readonly state: string | null;
  /** Seconds in its current state (idle, idle in transaction, active). */
  readonly stateSeconds: number | null;
  /** Seconds since its transaction began; null outside one. */
  readonly transactionSeconds: number | null;
  /** Seconds since its session began: a session-level lock is at most this old. */
  readonly sessionSeconds: number | null;
}

/** Who holds what the sessions named `applicationName` wait for (any lock: advisory, table, row). */
export async function lockHolders(db: Db, applicationName: string): Promise<LockHolder[]> {
  const { rows } = await sql<LockHolder>`
    select w.pid as "waitingPid",
           round(extract(epoch from now() - w.state_change))::int as "waitingSeconds",
           h.pid,
           coalesce(h.application_name, '') as "applicationName",
           h.state,
           round(extract(epoch from now() - h.state_change))::int as "stateSeconds",
           round(extract(epoch from now() - h.xact_start))::int as "transactionSeconds",
           round(extract(epoch from now() - h.backend_start))::int as "sessionSeconds"
      from pg_stat_activity w
     cross join lateral unnest(pg_blocking_pids(w.pid)) as b(pid)
      join pg_stat_activity h on h.pid = b.pid
     where w.application_name = ${applicationName} and w.wait_event_type = 'Lock'
     order by w.pid, h.pid
  `.execute(db);
  return rows;
}

/** One holder in words: pid, application name, and for how long. */
export function describeHolder(holder: LockHolder): string {
  const name = holder.applicationName ? `application_name '${holder.applicationName}'` : "no application_name";
  const state = holder.state ? `${holder.state} for ${holder.stateSeconds}s` : "state hidden";
  const held = holder.transactionSeconds !== null ? `in a transaction for ${holder.transactionSeconds}s` : `session open ${holder.sessionSeconds}s`;
  return `pid ${holder.pid} (${name}, ${state}, ${held})`;
}

/**
 * While sessions named `applicationName` wait on a lock, says every few
 * seconds who holds it: a lock left by a crashed or pooled session is then
 * found by name instead of being a silent hang. Returns the stop function.
 */
export function reportLockWaits(db: Db, applicationName: string, what: string, logger: Logger): () => void {
  const timer = setInterval(() => {
    void lockHolders(db, applicationName).then(
      (holders) => {
        if (!holders.length) return;
        const waited = Math.max(...holders.map((h) => h.waitingSeconds));
        logger.warn(
          { holders, waitedSeconds: waited },
          `${what}: waiting ${waited}s for a lock held by ${holders.map(describeHolder).join("; ")}`,
        );
      },
      (error: unknown) => logger.debug({ err: error }, "could not read who holds the awaited lock"),
    );
  }, LOCK_WAIT_REPORT_MS);
  timer.unref();
  return () => clearInterval(timer);
}
