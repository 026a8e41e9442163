import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { expectJson, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

const pgmill = (...args: string[]) => runCli(args, { databaseUrl: db.url });

describe("pgmill cancel", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("removes a queued job (exit 0), and says a running one is being cancelled (exit 0)", async () => {
    const queued = await addJobWithSql(db.handle.db, "log-message", { message: "x" }, { runAt: "infinity" });
    const running = await addJobWithSql(db.handle.db, "log-message", { message: "y" }, { runAt: "infinity" });
    // Locked as a worker would (no daemon here), so the cancel stays in progress.
    await sql`update graphile_worker._private_jobs set locked_at = now(), locked_by = 'cli-test-worker', attempts = 1 where id = ${running}::bigint`.execute(
      db.handle.db,
    );
    const [removed, cancelling] = await Promise.all([pgmill("cancel", queued), pgmill("cancel", running, "--json")]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(`job ${queued} was queued: removed, and recorded cancelled in its history (pgmill history --job ${queued})\n`);
    expect(await jobInEngine(db.handle.db, queued)).toBeUndefined();
    expect((await runsOf(db.handle.db, queued)).map((r) => r.status)).toEqual(["cancelled"]);

    expect(cancelling.code, cancelling.stderr).toBe(0);
    expect(expectJson(cancelling)).toEqual({
      job_id: running,
      result: "cancelling",
      message: expect.stringMatching(/^job \d+ is running: the daemon running it aborts its handler's signal within a second/),
    });
  });

  it("nothing to cancel: exit 1 with the reason on stderr", async () => {
    const queued = await addJobWithSql(db.handle.db, "log-message", { message: "z" }, { runAt: "infinity" });
    await sql`select pgmill.cancel_job(${queued}::bigint)`.execute(db.handle.db);
    const [finished, missing] = await Promise.all([pgmill("cancel", queued), pgmill("cancel", "123456789")]);
    expect(finished.code).toBe(1);
    expect(finished.stdout).toBe("");
    expect(finished.stderr).toMatch(new RegExp(`^pgmill: job ${queued} has already finished \\(attempt 1 was recorded cancelled at \\S+\\): nothing to cancel\\n$`));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("pgmill: job 123456789 not found: no such job is queued or running, and no history has it\n");
  });

  it("a job id that is not a number is a usage error (exit 2), before any database is touched", async () => {
    const [word, none] = await Promise.all([runCli(["cancel", "abc"]), runCli(["cancel"])]);
    expect(word.code).toBe(2);
    expect(word.stderr).toMatch(/<job-id>: expected a numeric id/);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/missing required argument 'job-id'/);
  });
});
