import { sql } from "kysely";
import type { Db } from "../db/database.js";

export function pendingDeadLettersByTask(db: Db) {
  return db
    .selectFrom("pgmill.dead_letters")
    .select(["task", (eb) => eb.fn.countAll<string>().as("dead_letters"), (eb) => eb.fn.max("died_at").as("last_died_at")])
    .where("retried_at", "is", null)
    .groupBy("task")
    .orderBy("task")
    .execute();
}

/** Daemons seen in the last day, live ones first. */
export function daemons(db: Db) {
  return db
    .selectFrom("pgmill.daemons")
    .select([
      "id",
      "state",
      "last_seen",
      sql<number>`round(extract(epoch from now() - last_seen)::numeric, 1)::float8`.as("seconds_since_beat"),
      "jobs_in_flight",
      "version",
      "started_at",
    ])
    .where("last_seen", ">", sql<Date>`now() - interval '1 day'`)
    .orderBy(sql`state in ('stopped', 'dead')`)
    .orderBy("last_seen", "desc")
    .execute();
}
