import { sql } from "kysely";
import type { Db } from "../db/database.js";
import { PgmillError } from "../errors.js";

// The CLI's side of the crontab controls: each is one pgmill.* SQL function
// (sql/0010), so psql and migrations can do the same.

async function call<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    // no_data_found: an unknown line id; the message names it and the known ones.
    if ((error as { code?: string }).code === "P0002") throw new PgmillError("PGMILL_NOT_FOUND", (error as Error).message);
    throw error;
  }
}

/** Pauses a crontab line; returns since when it is paused. */
export function pauseCron(db: Db, identifier: string): Promise<Date> {
  return call(async () => (await sql<{ since: Date }>`select pgmill.pause_cron(${identifier}) as since`.execute(db)).rows[0]!.since);
}

/** Resumes a crontab line; false if it was not paused. */
export function resumeCron(db: Db, identifier: string): Promise<boolean> {
  return call(async () => (await sql<{ resumed: boolean }>`select pgmill.resume_cron(${identifier}) as resumed`.execute(db)).rows[0]!.resumed);
}

/** Enqueues a crontab line's job now; returns its job id. */
export function runCronNow(db: Db, identifier: string): Promise<string> {
  return call(async () => (await sql<{ job_id: string }>`select pgmill.run_cron_now(${identifier}) as job_id`.execute(db)).rows[0]!.job_id);
}
