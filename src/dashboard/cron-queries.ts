import type { Db } from "../db/database.js";

const MAX_LINES = 500;

/**
 * Lines paused while no daemon publishes them (the line left the crontab for a
 * while; the pause stays until resume_cron). Open pauses are few: the partial
 * index cron_pauses_open serves this.
 */
export function pausedUnpublishedCronLines(db: Db) {
  return db
    .selectFrom("pgmill.cron_pauses as p")
    .select(["p.identifier as id", "p.paused_at as paused_since"])
    .where("p.resumed_at", "is", null)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom("pgmill.cron_lines as l").select("l.identifier").whereRef("l.identifier", "=", "p.identifier"))))
    .orderBy("p.identifier")
    .limit(MAX_LINES)
    .execute();
}
