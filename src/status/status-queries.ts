import { sql } from "kysely";
import type { Db } from "../db/database.js";

export type JobState = "running" | "failed" | "no handler" | "scheduled" | "ready";

/**
 * Jobs in graphile-worker by task and state. A job whose task is not among
 * `handledTasks` is in state "no handler": no daemon of this build will ever
 * claim it (graphile-worker fetches only the tasks a worker knows).
 */
export function jobsByTaskAndState(db: Db, handledTasks: readonly string[]) {
  return db
    .selectFrom("graphile_worker.jobs")
    .select((eb) => [
      "task_identifier as task",
      eb
        .case()
        .when("locked_at", "is not", null)
        .then(sql.lit("running"))
        .when("attempts", ">=", eb.ref("max_attempts"))
        .then(sql.lit("failed"))
        .when(sql<boolean>`task_identifier <> all(${[...handledTasks]}::text[])`)
        .then(sql.lit("no handler"))
        .when("run_at", ">", sql<Date>`now()`)
        .then(sql.lit("scheduled"))
        .else(sql.lit("ready"))
        .end()
        .$castTo<JobState>()
        .as("state"),
      eb.fn.countAll<string>().as("jobs"),
    ])
    .groupBy(["task", "state"])
    .orderBy("task")
    .orderBy("state")
    .execute();
}

export function runningJobs(db: Db, limit = 50) {
  return db
    .selectFrom("graphile_worker.jobs")
    .select(["id", "task_identifier as task", "attempts", "max_attempts", "locked_at", "locked_by"])
    .where("locked_at", "is not", null)
    .orderBy("locked_at")
    .limit(limit)
    .execute();
}

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
