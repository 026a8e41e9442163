import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { PermanentError, defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { addJobWithSql, runsOf } from "../support/sql-jobs.js";
import { waitFor } from "../support/wait-for.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

const tasks = taskRegistry(
  defineTask({
    name: "mixed",
    payload: z.object({ n: z.number(), token: z.string() }),
    handler: async ({ n }) => {
      if (n % 3 === 0) throw new PermanentError("multiple of three");
    },
  }),
);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  // Test-only instrument on this throwaway database: whenever graphile-worker
  // deletes a job (completion), note it if the job has no history row yet.
  await sql`
    create table public.orphan_completions (job_id bigint, at timestamptz default now());
    create function public.note_orphan() returns trigger language plpgsql as $$
    begin
      if not exists (select 1 from pgmill.job_runs where job_id = old.id) then
        insert into public.orphan_completions (job_id) values (old.id);
      end if;
      return old;
    end $$;
    create trigger note_orphan after delete on graphile_worker._private_jobs
      for each row execute function public.note_orphan();
  `.execute(db.handle.db);
  await startTestDaemon(db, tasks, { settings: { PGMILL_HISTORY_PAYLOAD: "redacted", PGMILL_CONCURRENCY: "8" } });
});

describe("ledger guarantees", () => {
  it("writes every attempt's history row before graphile-worker completes the job", async () => {
    const ids = await Promise.all(Array.from({ length: 60 }, (_, n) => addJobWithSql(db.handle.db, "mixed", { n, token: "s3cret" })));
    await waitFor("all 60 jobs to leave graphile-worker", async () => {
      const left = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("id").where("id", "in", ids).execute();
      return left.length === 0;
    });
    const orphans = await sql<{ job_id: string }>`select job_id from public.orphan_completions`.execute(db.handle.db);
    expect(orphans.rows).toEqual([]);
    const runs = await db.handle.db.selectFrom("pgmill.job_runs").select(["job_id", "status"]).where("job_id", "in", ids).execute();
    expect(runs).toHaveLength(60);
    expect(runs.filter((r) => r.status === "dead")).toHaveLength(20);
    const letters = await db.handle.db.selectFrom("pgmill.dead_letters").select("job_id").where("job_id", "in", ids).execute();
    expect(letters).toHaveLength(20);
  });

  it("keeps the payload's shape but not its values in redacted mode; the dead letter keeps it whole to re-run", async () => {
    const jobId = await addJobWithSql(db.handle.db, "mixed", { n: 3, token: "s3cret" });
    const [run] = await waitFor("the attempt", async () => ((await runsOf(db.handle.db, jobId)).length ? runsOf(db.handle.db, jobId) : null));
    expect(run!.payload).toEqual({ n: "[redacted]", token: "[redacted]" });
    const letter = await db.handle.db.selectFrom("pgmill.dead_letters").select("payload").where("job_id", "=", jobId).executeTakeFirstOrThrow();
    expect(letter.payload).toEqual({ n: 3, token: "s3cret" });
  });

  it("answers psql's first questions from pgmill.task_stats", async () => {
    const stats = await db.handle.db.selectFrom("pgmill.task_stats").selectAll().where("task", "=", "mixed").executeTakeFirstOrThrow();
    expect(Number(stats.runs)).toBe(61);
    expect(Number(stats.failed)).toBe(21);
    expect(Number(stats.success_rate)).toBeCloseTo(40 / 61, 3);
    expect(stats.p50_ms).toBeGreaterThanOrEqual(0);
    expect(stats.p95_ms).toBeGreaterThanOrEqual(stats.p50_ms!);
    expect(stats.last_success).toBeInstanceOf(Date);
    expect(stats.last_failure).toBeInstanceOf(Date);
  });
});
