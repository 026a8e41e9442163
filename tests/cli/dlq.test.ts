import { sql, type Insertable } from "kysely";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { DeadLettersTable } from "../../src/db/schema.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { expectJson, expectSuccess, expectUserError, parseTable, runCli, SLOW_CLI_TIMEOUT } from "./run-cli.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

/** Each test starts with no dead letters and no jobs. */
beforeEach(async () => {
  await db.handle.db.deleteFrom("pgmill.dead_letters").execute();
  await sql`select graphile_worker.complete_jobs(array(select id from graphile_worker.jobs))`.execute(db.handle.db);
});

const pgmill = (...args: string[]) => runCli(args, { databaseUrl: db.url });

interface ListedLetter {
  id: string;
  job_id: string;
  task: string;
  reason: string;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  died_at: string;
  retried_at: string | null;
  retried_as_job_id: string | null;
}

let nextJobId = 10_000;

async function seedDeadLetter(values: Partial<Insertable<DeadLettersTable>> = {}): Promise<string> {
  const row = await db.handle.db
    .insertInto("pgmill.dead_letters")
    .values({
      job_id: nextJobId++,
      job_revision: 0,
      task: "log-message",
      payload: JSON.stringify({ message: "dead" }),
      queue: null,
      priority: 0,
      job_key: null,
      flags: null,
      attempts: 3,
      max_attempts: 3,
      reason: "max_attempts",
      last_error: "boom",
      ...values,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

const ago = (ms: number) => new Date(Date.now() - ms);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function letter(id: string) {
  return db.handle.db.selectFrom("pgmill.dead_letters").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

function jobs() {
  return withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").selectAll().orderBy("id").execute();
}

async function storedPayload(jobId: string): Promise<unknown> {
  const { rows } = await db.handle.pool.query<{ payload: unknown }>("select payload from graphile_worker._private_jobs where id = $1", [jobId]);
  return rows[0]?.payload;
}

describe("pgmill dlq list", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("lists pending dead letters newest first, filtered by --task and capped by --limit", async () => {
    const older = await seedDeadLetter({ task: "log-message", died_at: ago(2 * HOUR), last_error: "boom" });
    const newer = await seedDeadLetter({ task: "http", reason: "permanent_error", attempts: 1, max_attempts: 10, last_error: "404", died_at: ago(HOUR) });

    const all = expectJson<ListedLetter[]>(await pgmill("dlq", "list", "--json"));
    expect(all.map((l) => l.id)).toEqual([newer, older]);
    expect(all[0]).toEqual({
      id: newer,
      job_id: expect.stringMatching(/^\d+$/),
      task: "http",
      reason: "permanent_error",
      attempts: 1,
      max_attempts: 10,
      last_error: "404",
      died_at: expect.any(String),
      retried_at: null,
      retried_as_job_id: null,
    });

    const [byTask, limited] = await Promise.all([pgmill("dlq", "list", "--task", "log-message", "--json"), pgmill("dlq", "list", "--limit", "1", "--json")]);
    expect(expectJson<ListedLetter[]>(byTask).map((l) => l.id)).toEqual([older]);
    expect(expectJson<ListedLetter[]>(limited).map((l) => l.id)).toEqual([newer]);
  });

  it("prints a table with a header row, one line per letter even when an error spans lines", async () => {
    const id = await seedDeadLetter({ last_error: "first line\n  second line" });
    const table = parseTable(expectSuccess(await pgmill("dlq", "list")));
    expect(table.header).toEqual(["id", "job_id", "task", "reason", "attempts", "max_attempts", "last_error", "died_at", "retried_at", "retried_as_job_id"]);
    expect(table.rows).toHaveLength(1);
    expect(table.rows[0]).toMatchObject({ id, task: "log-message", reason: "max_attempts", last_error: "first line second line", retried_at: "" });
  });

  it("says so when there are none, and --limit must be positive", async () => {
    const [empty, badLimit] = await Promise.all([pgmill("dlq", "list"), pgmill("dlq", "list", "--limit", "0")]);
    expect(expectSuccess(empty)).toBe("no dead letters\n");
    expect(expectUserError(badLimit)).toMatch(/--limit: /);
  });
});

describe("pgmill dlq retry", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("re-enqueues one letter as a new job with the same task, payload and options, and marks it retried", async () => {
    const payload = { url: "https://example.com/hook", method: "POST", body: { n: 1 } };
    const id = await seedDeadLetter({
      task: "http",
      payload: JSON.stringify(payload),
      queue: "qq",
      priority: 4,
      job_key: "kk",
      flags: ["f1"],
      attempts: 1,
      max_attempts: 10,
      reason: "permanent_error",
    });

    const result = expectJson<{ dead_letter_id: string; new_job_id: string }>(await pgmill("dlq", "retry", id, "--json"));
    expect(result).toEqual({ dead_letter_id: id, new_job_id: expect.stringMatching(/^\d+$/) });

    const [job, ...others] = await jobs();
    expect(others).toEqual([]);
    expect(job).toMatchObject({
      id: result.new_job_id,
      task_identifier: "http",
      queue_name: "qq",
      priority: 4,
      key: "kk",
      max_attempts: 10,
      attempts: 0,
      flags: { f1: true },
    });
    expect(await storedPayload(result.new_job_id)).toEqual(payload);

    const retried = await letter(id);
    expect(retried.retried_at).toBeInstanceOf(Date);
    expect(retried.retried_as_job_id).toBe(result.new_job_id);

    // Hidden from the default list, shown with --all.
    const [pending, all] = await Promise.all([pgmill("dlq", "list", "--json"), pgmill("dlq", "list", "--all", "--json")]);
    expect(expectJson<ListedLetter[]>(pending)).toEqual([]);
    expect(expectJson<ListedLetter[]>(all)).toEqual([
      expect.objectContaining({ id, retried_at: expect.any(String), retried_as_job_id: result.new_job_id }),
    ]);

    // A second retry is refused, and enqueues nothing.
    const again = expectUserError(await pgmill("dlq", "retry", id));
    expect(again).toContain(`dead letter ${id} was already retried as job ${result.new_job_id}`);
    expect(await jobs()).toHaveLength(1);
  });

  it("prints the new job id as text without --json", async () => {
    const id = await seedDeadLetter();
    const output = expectSuccess(await pgmill("dlq", "retry", id));
    const newJobId = /^new_job_id: (\d+)$/m.exec(output)?.[1];
    expect(output).toContain(`dead_letter_id: ${id}\n`);
    expect(newJobId).toBeDefined();
    expect((await jobs()).map((j) => [j.id, j.task_identifier])).toEqual([[newJobId, "log-message"]]);
    expect(await storedPayload(newJobId!)).toEqual({ message: "dead" });
  });

  it("clears the dead job graphile-worker still holds, so its job key is free for the new one", async () => {
    const { rows } = await sql<{ id: string }>`
      select (graphile_worker.add_job('log-message', '{"message":"stuck"}'::json, job_key => 'stuck-key', max_attempts => 3)).id
    `.execute(db.handle.db);
    const stuckJobId = rows[0]!.id;
    const id = await seedDeadLetter({ job_id: stuckJobId, job_key: "stuck-key", payload: JSON.stringify({ message: "stuck" }) });

    const { new_job_id } = expectJson<{ new_job_id: string }>(await pgmill("dlq", "retry", id, "--json"));
    expect(new_job_id).not.toBe(stuckJobId);
    expect((await jobs()).map((j) => [j.id, j.key])).toEqual([[new_job_id, "stuck-key"]]);
  });

  it("--all retries every pending letter, or only --task's, and counts them", async () => {
    const logA = await seedDeadLetter({ task: "log-message" });
    const logB = await seedDeadLetter({ task: "log-message", payload: JSON.stringify({ message: "b", level: "warn" }) });
    const http = await seedDeadLetter({ task: "http", payload: JSON.stringify({ url: "https://example.com" }), max_attempts: 10 });
    const alreadyRetried = await seedDeadLetter({ task: "log-message", retried_at: ago(HOUR), retried_as_job_id: "1" });

    expect(expectJson(await pgmill("dlq", "retry", "--all", "--task", "log-message", "--json"))).toEqual({ retried: 2 });
    expect((await jobs()).map((j) => j.task_identifier)).toEqual(["log-message", "log-message"]);
    for (const id of [logA, logB]) expect((await letter(id)).retried_as_job_id).not.toBeNull();
    expect((await letter(http)).retried_at).toBeNull();
    expect((await letter(alreadyRetried)).retried_as_job_id).toBe("1");

    expect(expectSuccess(await pgmill("dlq", "retry", "--all"))).toBe("retried: 1\n");
    expect((await jobs()).map((j) => j.task_identifier).sort()).toEqual(["http", "log-message", "log-message"]);
    expect(expectJson(await pgmill("dlq", "list", "--json"))).toEqual([]);
  });

  it("needs exactly one of an id or --all, a numeric id, and a letter that exists", async () => {
    const id = await seedDeadLetter();
    const [neither, both, taskOnly, notNumeric, missing] = await Promise.all([
      pgmill("dlq", "retry"),
      pgmill("dlq", "retry", id, "--all"),
      pgmill("dlq", "retry", "--task", "log-message"),
      pgmill("dlq", "retry", "abc"),
      pgmill("dlq", "retry", "987654321"),
    ]);
    for (const result of [neither, both, taskOnly]) expect(expectUserError(result)).toContain("give a dead letter id, or --all");
    expect(expectUserError(notNumeric)).toContain("expected a numeric id");
    expect(expectUserError(missing)).toContain("dead letter 987654321 does not exist");
    expect(await jobs()).toEqual([]);
    expect((await letter(id)).retried_at).toBeNull();
  });

  it("an id too large for a bigint is a user error, not a crash", async () => {
    expectUserError(await pgmill("dlq", "retry", "99999999999999999999"));
  });
});

describe("pgmill dlq purge", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("--older-than deletes only the letters that died longer ago", async () => {
    await seedDeadLetter({ died_at: ago(10 * DAY) });
    const fresh = await seedDeadLetter({ died_at: new Date() });
    // Retried or not, a letter older than the cut-off goes.
    await seedDeadLetter({ died_at: ago(3 * DAY), retried_at: ago(2 * DAY), retried_as_job_id: "5" });

    expect(expectJson(await pgmill("dlq", "purge", "--older-than", "1d", "--json"))).toEqual({ purged: 2 });
    const left = await db.handle.db.selectFrom("pgmill.dead_letters").select("id").execute();
    expect(left.map((l) => l.id)).toEqual([fresh]);
  });

  it("defaults to 30 days and accepts sums like 1d12h", async () => {
    await seedDeadLetter({ died_at: ago(40 * DAY) });
    await seedDeadLetter({ died_at: ago(20 * DAY) });
    const oneDay = await seedDeadLetter({ died_at: ago(DAY) });
    expect(expectSuccess(await pgmill("dlq", "purge"))).toBe("purged: 1\n");
    expect(expectJson(await pgmill("dlq", "purge", "--older-than", "1d12h", "--json"))).toEqual({ purged: 1 });
    const left = await db.handle.db.selectFrom("pgmill.dead_letters").select("id").execute();
    expect(left.map((l) => l.id)).toEqual([oneDay]);
  });

  it("a bad duration exits 2 naming --older-than and deletes nothing", async () => {
    await seedDeadLetter({ died_at: ago(400 * DAY) });
    for (const duration of ["1x", "1.5d"]) {
      expect(expectUserError(await pgmill("dlq", "purge", "--older-than", duration))).toMatch(/--older-than: /);
    }
    expect(await db.handle.db.selectFrom("pgmill.dead_letters").select("id").execute()).toHaveLength(1);
  });

  it("an --older-than reaching past Postgres's timestamp range is a user error naming the flag, not a crash", async () => {
    await seedDeadLetter({ died_at: ago(400 * DAY) });
    expect(expectUserError(await pgmill("dlq", "purge", "--older-than", "99999999999w"))).toMatch(/--older-than/);
    expect(await db.handle.db.selectFrom("pgmill.dead_letters").select("id").execute()).toHaveLength(1);
  });
});
