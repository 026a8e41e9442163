import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { sweepDeadLetters } from "../../src/dead-letters/sweep.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { addJobWithSql, deadLetterOf, jobInEngine } from "../support/sql-jobs.js";

// No daemon runs here: the jobs use a task nobody handles, so nothing else touches them.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

function insertLetter(jobId: string, revision: number) {
  return db.handle.db
    .insertInto("pgmill.dead_letters")
    .values({
      job_id: jobId,
      job_revision: revision,
      task: "elsewhere",
      payload: JSON.stringify({ a: 1 }),
      queue: null,
      priority: 0,
      job_key: null,
      flags: null,
      attempts: 1,
      max_attempts: 1,
      job_created_at: new Date(),
      reason: "permanent_error",
      last_error: "gone",
      last_error_stack: null,
      daemon_id: "crashed-daemon",
    })
    .execute();
}

describe("dead-letter sweep", () => {
  it("finishes a move interrupted after the dead letter was written", async () => {
    const jobId = await addJobWithSql(db.handle.db, "elsewhere", { a: 1 });
    await insertLetter(jobId, 0);
    expect(await sweepDeadLetters(db.handle.db, "sweeper")).toMatchObject({ moved: 0, finished: 1 });
    expect(await jobInEngine(db.handle.db, jobId)).toBeUndefined();
    // Idempotent: a second sweep finds nothing, and the letter is still there once.
    expect(await sweepDeadLetters(db.handle.db, "sweeper")).toMatchObject({ moved: 0, finished: 0 });
    expect((await deadLetterOf(db.handle.db, jobId))?.reason).toBe("permanent_error");
  });

  it("moves a job graphile-worker holds as permanently failed into dead letters, payload and error kept", async () => {
    const jobId = await addJobWithSql(db.handle.db, "elsewhere", { keep: ["me"] }, { maxAttempts: 2 });
    await sql`select graphile_worker.permanently_fail_jobs(array[${jobId}::bigint], 'gave up')`.execute(db.handle.db);
    expect(await sweepDeadLetters(db.handle.db, "sweeper")).toEqual({ moved: 1, finished: 0, movedTasks: ["elsewhere"] });
    expect(await jobInEngine(db.handle.db, jobId)).toBeUndefined();
    expect(await deadLetterOf(db.handle.db, jobId)).toMatchObject({
      task: "elsewhere",
      payload: { keep: ["me"] },
      reason: "max_attempts",
      last_error: "gave up",
      max_attempts: 2,
      daemon_id: "sweeper",
    });
  });

  it("leaves a job alone when it was replaced through its job key after the letter was written", async () => {
    const jobId = await addJobWithSql(db.handle.db, "elsewhere", { v: 1 }, { jobKey: "k" });
    await insertLetter(jobId, 0);
    // Same key: graphile-worker updates the row in place and bumps its revision.
    expect(await addJobWithSql(db.handle.db, "elsewhere", { v: 2 }, { jobKey: "k" })).toBe(jobId);
    expect(await sweepDeadLetters(db.handle.db, "sweeper")).toMatchObject({ moved: 0, finished: 0 });
    expect(await jobInEngine(db.handle.db, jobId)).toMatchObject({ revision: 1 });
  });

  it("does not touch jobs that are merely waiting", async () => {
    const jobId = await addJobWithSql(db.handle.db, "elsewhere", {});
    await sweepDeadLetters(db.handle.db, "sweeper");
    expect(await jobInEngine(db.handle.db, jobId)).toBeDefined();
    expect(await deadLetterOf(db.handle.db, jobId)).toBeUndefined();
  });
});
