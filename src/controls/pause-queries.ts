import { sql } from "kysely";
import type { Db } from "../db/database.js";

// The operator's side of pausing: the CLI (and status) call the pgmill.*
// functions and read the tables of sql/0008.

/** Pauses a task everywhere; false when it was paused already. */
export async function pauseTask(db: Db, task: string): Promise<boolean> {
  const { rows } = await sql<{ changed: boolean }>`select pgmill.pause_task(${task}) as changed`.execute(db);
  return rows[0]!.changed;
}

/** Resumes a task everywhere, its held jobs back at their run_at; false when it was not paused. */
export async function resumeTask(db: Db, task: string): Promise<boolean> {
  const { rows } = await sql<{ changed: boolean }>`select pgmill.resume_task(${task}) as changed`.execute(db);
  return rows[0]!.changed;
}

/** Every paused task with how many of its jobs are held. */
export function pausedTasks(db: Db) {
  return db
    .selectFrom("pgmill.paused_tasks as p")
    .select([
      "p.task",
      "p.paused_at",
      "p.paused_by",
      sql<number>`(select count(*)::int from pgmill.held_jobs h where h.task = p.task)`.as("held_jobs"),
    ])
    .orderBy("p.task")
    .execute();
}

/** The names of the paused tasks (what daemons cache). */
export async function pausedTaskNames(db: Db): Promise<Set<string>> {
  const rows = await db.selectFrom("pgmill.paused_tasks").select("task").execute();
  return new Set(rows.map((r) => r.task));
}
