import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { withEngineTables } from "./jobs-view.js";

// Every read pgmill makes of graphile-worker's jobs, in one place: status,
// metrics, the reaper and the dead-letter sweep all see the engine through here.

export type JobState = "running" | "held" | "failed" | "no handler" | "scheduled" | "ready";

/**
 * Jobs by task and state. A job whose task is not among `handledTasks` is in
 * state "no handler": no daemon of this build will ever claim it
 * (graphile-worker fetches only the tasks a worker knows).
 */
export function jobsByTaskAndState(db: Kysely<Database>, handledTasks: readonly string[]) {
  return withEngineTables(db)
    .selectFrom("graphile_worker.jobs")
    .select((eb) => [
      "task_identifier as task",
      eb
        .case()
        .when("locked_at", "is not", null)
        .then(sql.lit("running"))
        // Parked for a paused task until it is resumed (sql/0008).
        .when(sql<boolean>`exists (select 1 from pgmill.held_jobs h where h.job_id = graphile_worker.jobs.id)`)
        .then(sql.lit("held"))
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

export function runningJobs(db: Kysely<Database>, limit = 50) {
  return withEngineTables(db)
    .selectFrom("graphile_worker.jobs")
    .select(["id", "task_identifier as task", "attempts", "max_attempts", "locked_at", "locked_by"])
    .where("locked_at", "is not", null)
    .orderBy("locked_at")
    .limit(limit)
    .execute();
}

/** Per task: ready, scheduled and running jobs, and how long the oldest ready one has waited. */
export function jobCountsByTask(db: Kysely<Database>) {
  return withEngineTables(db)
    .selectFrom("graphile_worker.jobs")
    .select([
      "task_identifier as task",
      sql<number>`count(*) filter (where locked_at is null and run_at <= now() and attempts < max_attempts)::int`.as("ready"),
      sql<number>`count(*) filter (where locked_at is null and run_at > now() and attempts < max_attempts)::int`.as("scheduled"),
      sql<number>`count(*) filter (where locked_at is not null)::int`.as("running"),
      sql<number>`coalesce(extract(epoch from now() - min(run_at) filter (
        where locked_at is null and run_at <= now() and attempts < max_attempts)), 0)::float8`.as("oldestReadyAgeSeconds"),
    ])
    .groupBy("task_identifier")
    .execute();
}

/** The jobs locked by any of these pool or worker ids (what a daemon's locks carry). */
export function jobsLockedBy(db: Kysely<Database>, lockIds: readonly string[]) {
  return withEngineTables(db)
    .selectFrom("graphile_worker.jobs")
    .select(["id", "task_identifier", "queue_name", "key", "attempts", "max_attempts", "locked_at", "locked_by", "revision"])
    .where("locked_by", "in", [...lockIds])
    .execute();
}

/**
 * Unlocked jobs whose move to dead letters is due or half done: attempts used
 * up (graphile-worker keeps them as permanently failed), or a dead letter
 * already written for this revision. A locked job may be running somewhere; a
 * job with a pending reschedule request (a park) is not spent.
 */
export function jobsToDeadLetter(db: Kysely<Database>, limit: number) {
  return withEngineTables(db)
    .selectFrom("graphile_worker.jobs as j")
    .leftJoin("pgmill.dead_letters as d", (join) =>
      join.onRef("d.job_id", "=", "j.id").onRef("d.job_revision", "=", "j.revision").on("d.retried_at", "is", null),
    )
    .select(["j.id", "j.task_identifier", "j.queue_name", "j.revision", "d.id as dead_letter_id"])
    .where("j.locked_at", "is", null)
    .where((eb) => eb.or([eb("j.attempts", ">=", eb.ref("j.max_attempts")), eb("d.id", "is not", null)]))
    // A parked job on its last attempt looks spent until its request restores the attempt.
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom("pgmill.job_reschedules as r").select("r.job_id").whereRef("r.job_id", "=", "j.id"))),
    )
    .limit(limit)
    .execute();
}

/** Of these jobs, the ids still locked by one of these lock ids (completion does not check the lock itself). */
export async function jobsStillHeld(db: Kysely<Database>, jobIds: readonly string[], lockIds: readonly string[]): Promise<Set<string>> {
  if (!jobIds.length || !lockIds.length) return new Set();
  const rows = await withEngineTables(db)
    .selectFrom("graphile_worker.jobs")
    .select(["id", "locked_by"])
    .where("id", "in", [...jobIds])
    .where("locked_by", "in", [...lockIds])
    .execute();
  return new Set(rows.map((r) => r.id));
}

/** Jobs locked by these ids, with how long by the database's clock (the orphan audit's view). */
export function lockAges(db: Kysely<Database>, lockIds: readonly string[]) {
  return withEngineTables(db)
    .selectFrom("graphile_worker.jobs")
    .select(["id", sql<number>`extract(epoch from now() - locked_at)::float8`.as("lockedForSeconds")])
    .where("locked_by", "in", [...lockIds])
    .execute();
}
