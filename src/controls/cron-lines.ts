import { sql } from "kysely";
import type { CrontabEntry } from "../crontab/parse-crontab.js";
import { nextTicks } from "../crontab/parse-crontab.js";
import type { Db } from "../db/database.js";

/** add_job's options as run_cron_now reads them from `pgmill.cron_lines.options`. */
function jobOptions(entry: CrontabEntry) {
  const { queueName, maxAttempts, priority, jobKey, jobKeyMode } = entry.item.options;
  return { queueName, maxAttempts, priority, jobKey, jobKeyMode };
}

/**
 * Replaces the published crontab lines with this daemon's, so run_cron_now
 * and status see what the daemons run. Pauses live elsewhere (cron_pauses) and
 * are untouched: a reload keeps them.
 */
export async function publishCronLines(db: Db, entries: readonly CrontabEntry[], daemonId: string, now = Date.now()): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const ids = entries.map((e) => e.identifier);
    await tx
      .deleteFrom("pgmill.cron_lines")
      .$if(ids.length > 0, (q) => q.where("identifier", "not in", ids))
      .execute();
    for (const entry of entries) {
      const row = {
        identifier: entry.identifier,
        task: entry.task,
        payload: JSON.stringify(entry.item.payload ?? {}),
        options: JSON.stringify(jobOptions(entry)),
        schedule: entry.schedule,
        timezone: entry.timezone,
        overlap: entry.overlap,
        next_tick_at: nextTicks(entry, now, 1)[0] ?? null,
        published_by: daemonId,
      };
      const { identifier: _key, ...changed } = row;
      await tx
        .insertInto("pgmill.cron_lines")
        .values(row)
        .onConflict((oc) => oc.column("identifier").doUpdateSet({ ...changed, published_at: sql<Date>`now()` }))
        .execute();
    }
  });
}

/** Records that a line's tick was enqueued at `at`, and when its next one falls. */
export async function noteCronTick(db: Db, identifier: string, at: Date, next: Date | null): Promise<void> {
  await db
    .updateTable("pgmill.cron_lines")
    .set({
      last_tick_at: sql<Date>`greatest(last_tick_at, ${at}::timestamptz)`,
      next_tick_at: next,
    })
    .where("identifier", "=", identifier)
    .execute();
}

/** For `pgmill status`: each published line, whether it is paused, its last and next tick. */
export function cronLineStatus(db: Db) {
  return db
    .selectFrom("pgmill.cron_lines as l")
    .leftJoin("pgmill.cron_pauses as p", (join) => join.onRef("p.identifier", "=", "l.identifier").on("p.resumed_at", "is", null))
    .select(["l.identifier as id", "l.schedule", "l.timezone", "l.task", "l.overlap", "p.paused_at as paused_since", "l.last_tick_at as last_run", "l.next_tick_at as next_run", "l.last_manual_run_at as last_run_by_hand"])
    .orderBy("l.identifier")
    .execute();
}
