import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { expectJson, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { addJobWithSql, jobInEngine, runsOf } from "../support/sql-jobs.js";
import { waitFor } from "../support/wait-for.js";

let db: TestDatabase;
const holds: (() => void)[] = [];

// A daemon for --wait: one task honours its signal, the other ignores it until the file ends.
const tasks = taskRegistry(
  defineTask({
    name: "honours",
    payload: z.object({}),
    handler: async (_payload, { signal }) => {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      throw signal.reason;
    },
  }),
  defineTask({ name: "ignores", payload: z.object({}), handler: () => new Promise<void>((resolve) => holds.push(resolve)) }),
);

beforeAll(async () => {
  db = await createTestDatabase();
  await startTestDaemon(db, tasks);
  // Registered after the daemon, so it runs first: the ignoring handler returns before the daemon stops.
  onFileCleanup(() => holds.forEach((release) => release()));
});

const locked = (id: string) => waitFor(`job ${id} to be locked`, async () => (await jobInEngine(db.handle.db, id))?.locked_at);

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
      cancelled: true,
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

  it("--wait: until the attempt is recorded cancelled (exit 0), or says the handler has not returned (exit 1)", async () => {
    const honours = await addJobWithSql(db.handle.db, "honours", {});
    const ignores = await addJobWithSql(db.handle.db, "ignores", {});
    await Promise.all([locked(honours), locked(ignores)]);
    const [done, stuck] = await Promise.all([pgmill("cancel", honours, "--wait", "60s"), pgmill("cancel", ignores, "--wait", "1s")]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`^job ${honours} cancelled: attempt 1 was recorded cancelled at \\S+\\n$`));
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toBe(
      `pgmill: job ${ignores} is still running after 1s: its signal was aborted, but its handler has not returned ` +
        "(does it ignore its signal?); the cancel stays requested and applies when it does\n",
    );
  });

  it("a job id that is not a number, or a bad --wait, is a usage error (exit 2), before any database is touched", async () => {
    const [word, none, badWait] = await Promise.all([runCli(["cancel", "abc"]), runCli(["cancel"]), runCli(["cancel", "1", "--wait", "soon"])]);
    expect(word.code).toBe(2);
    expect(word.stderr).toMatch(/<job-id>: expected a numeric id/);
    expect(badWait.code).toBe(2);
    expect(badWait.stderr).toMatch(/--wait: expected a duration such as 90s/);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/missing required argument 'job-id'/);
  });
});
