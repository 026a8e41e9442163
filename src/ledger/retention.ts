import { sql } from "kysely";
import type { Db } from "../db/database.js";

export interface RetentionResult {
  /** False when another daemon was doing it. */
  readonly ran: boolean;
  readonly partitionsCreated: number;
  readonly partitionsDropped: number;
  readonly deadLettersPurged: number;
}

/** Partitions are kept ready this many days ahead, so inserts never wait on DDL. */
export const PARTITION_DAYS_AHEAD = 7;

/**
 * Keeps the ledger bounded: creates the coming days' history partitions, drops
 * those past retention (whole partitions: no bulk DELETE, no VACUUM debt), and
 * purges old dead letters. One daemon at a time does it (advisory lock); the
 * others skip.
 */
export async function applyRetention(
  db: Db,
  settings: { historyRetentionDays: number; deadLetterRetentionDays: number },
): Promise<RetentionResult> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ locked: boolean }>`
      select pg_try_advisory_xact_lock(hashtext('pgmill:retention')) as locked
    `.execute(trx);
    if (!rows[0]?.locked) return { ran: false, partitionsCreated: 0, partitionsDropped: 0, deadLettersPurged: 0 };
    const [created, dropped, purged] = [
      await sql<{ n: number }>`select pgmill.ensure_job_runs_partitions(${PARTITION_DAYS_AHEAD}::int) as n`.execute(trx),
      await sql<{ n: number }>`
        select pgmill.drop_job_runs_partitions(make_interval(days => ${settings.historyRetentionDays})) as n
      `.execute(trx),
      await sql<{ n: number }>`
        select pgmill.purge_dead_letters(make_interval(days => ${settings.deadLetterRetentionDays})) as n
      `.execute(trx),
    ];
    return {
      ran: true,
      partitionsCreated: created.rows[0]!.n,
      partitionsDropped: dropped.rows[0]!.n,
      deadLettersPurged: purged.rows[0]!.n,
    };
  });
}
