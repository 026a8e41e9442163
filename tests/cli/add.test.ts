import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { expectJson, expectSuccess, expectUserError, runCli, SLOW_CLI_TIMEOUT } from "./run-cli.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

const pgmill = (...args: string[]) => runCli(args, { databaseUrl: db.url });

interface AddedJob {
  id: string;
  task: string;
  run_at: string;
  max_attempts: number;
  key: string | null;
}

function job(id: string) {
  return withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").selectAll().where("id", "=", id).executeTakeFirst();
}

async function jobCount(): Promise<number> {
  const row = await withEngineTables(db.handle.db)
    .selectFrom("graphile_worker.jobs")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The payload as stored: graphile-worker's public view does not show it. */
async function storedPayload(id: string): Promise<unknown> {
  const { rows } = await db.handle.pool.query<{ payload: unknown }>("select payload from graphile_worker._private_jobs where id = $1", [id]);
  return rows[0]?.payload;
}

describe("pgmill migrate", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("exits 0 and is idempotent: a second run applies nothing and changes nothing", async () => {
    const migrations = () =>
      sql<{ name: string }>`select name from pgmill.migrations order by name`.execute(db.handle.db).then((r) => r.rows.map((m) => m.name));
    const graphileMigrations = () =>
      sql<{ id: number }>`select id from graphile_worker.migrations order by id`.execute(db.handle.db).then((r) => r.rows.map((m) => m.id));
    const before = { ours: await migrations(), graphile: await graphileMigrations() };
    expect(before.ours).toContain("0001_ledger");

    const first = await pgmill("migrate");
    expect(expectSuccess(first)).toMatch(/^migrated: true$/m);
    const second = expectJson<{ migrated: boolean; database: string }>(await pgmill("migrate", "--json"));
    expect(second).toEqual({ migrated: true, database: expect.stringContaining(`/${db.name}`) });

    expect(await migrations()).toEqual(before.ours);
    expect(await graphileMigrations()).toEqual(before.graphile);
  });

  it("--database-url wins over DATABASE_URL, and the password is never printed", async () => {
    const url = new URL(db.url);
    // The test server trusts local connections, so any password works; a real one is kept as is.
    if (!url.password) url.password = "s3cret-pw";
    const password = decodeURIComponent(url.password);
    const result = await runCli(["migrate", "--json", "--database-url", url.toString()], {
      databaseUrl: "postgres://nobody@127.0.0.1:1/unreachable",
    });
    const output = expectJson<{ migrated: boolean; database: string }>(result);
    expect(output.migrated).toBe(true);
    expect(output.database).toContain(`/${db.name}`);
    expect(output.database).toContain(":***@");
    expect(result.stdout + result.stderr).not.toContain(password);
  });
});

describe("pgmill add", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("enqueues a job with the task's default max attempts and prints it as JSON", async () => {
    const started = Date.now();
    const added = expectJson<AddedJob>(await pgmill("add", "log-message", '{"message":"hi"}', "--json"));
    expect(added).toMatchObject({ id: expect.stringMatching(/^\d+$/), task: "log-message", max_attempts: 3, key: null });

    const row = await job(added.id);
    expect(row).toMatchObject({
      task_identifier: "log-message",
      max_attempts: 3,
      attempts: 0,
      priority: 0,
      key: null,
      queue_name: null,
      locked_at: null,
    });
    // Runs now (the server's clock is this host's).
    expect(row!.run_at.getTime()).toBeGreaterThan(started - 5_000);
    expect(row!.run_at.getTime()).toBeLessThan(Date.now() + 5_000);
    expect(new Date(added.run_at).getTime()).toBe(row!.run_at.getTime());
    // Stored as given, not as parsed: the schema's default `level` is not added.
    expect(await storedPayload(added.id)).toEqual({ message: "hi" });
  });

  it("applies --max-attempts, --priority, --key, --queue and --run-at", async () => {
    const added = expectJson<AddedJob>(
      await pgmill(
        "add",
        "log-message",
        '{"message":"scheduled","level":"warn"}',
        "--max-attempts",
        "7",
        "--priority",
        "5",
        "--key",
        "k1",
        "--queue",
        "q1",
        "--run-at",
        "2030-01-01T00:00:00Z",
        "--json",
      ),
    );
    expect(added).toMatchObject({ task: "log-message", max_attempts: 7, key: "k1", run_at: "2030-01-01T00:00:00.000Z" });
    const row = await job(added.id);
    expect(row).toMatchObject({
      task_identifier: "log-message",
      max_attempts: 7,
      priority: 5,
      key: "k1",
      queue_name: "q1",
      run_at: new Date("2030-01-01T00:00:00Z"),
    });
    expect(await storedPayload(added.id)).toEqual({ message: "scheduled", level: "warn" });
  });

  it("--key replaces the pending job with that key; --run-at honours the offset; negative priorities are accepted", async () => {
    const first = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select(["id", "revision"]).where("key", "=", "k1").executeTakeFirstOrThrow();
    const output = expectSuccess(
      await pgmill("add", "log-message", '{"message":"moved"}', "--key", "k1", "--run-at", "2031-06-01T12:00:00+02:00", "--priority", "-3"),
    );
    // Without --json: `key: value` lines.
    expect(output).toContain(`id: ${first.id}\n`);
    expect(output).toContain("task: log-message\n");
    expect(output).toContain("run_at: 2031-06-01T10:00:00.000Z\n");
    expect(output).toContain("key: k1\n");

    const rows = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").selectAll().where("key", "=", "k1").execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: first.id, run_at: new Date("2031-06-01T10:00:00Z"), priority: -3, revision: first.revision + 1 });
    expect(await storedPayload(first.id)).toEqual({ message: "moved" });
  });

  it("uses the http task's own default of 10 attempts", async () => {
    const added = expectJson<AddedJob>(await pgmill("add", "http", '{"url":"https://example.com/hook","method":"POST"}', "--json"));
    expect(added).toMatchObject({ task: "http", max_attempts: 10 });
    expect(await job(added.id)).toMatchObject({ task_identifier: "http", max_attempts: 10 });
  });

  it("an invalid payload exits 2, names the field, and inserts nothing", async () => {
    const before = await jobCount();
    const stderr = expectUserError(await pgmill("add", "log-message", '{"message": 5}', "--json"));
    expect(stderr).toContain("log-message");
    expect(stderr).toMatch(/at message/);
    expect(await jobCount()).toBe(before);

    // No payload at all: the default `{}` lacks the required message.
    const missing = expectUserError(await pgmill("add", "log-message"));
    expect(missing).toMatch(/at message/);
    // http checks its URL's protocol.
    const badUrl = expectUserError(await pgmill("add", "http", '{"url":"ftp://example.com/file"}'));
    expect(badUrl).toMatch(/at url/);
    expect(await jobCount()).toBe(before);
  });

  it("an unknown task exits 2, lists the known tasks, and inserts nothing", async () => {
    const before = await jobCount();
    const stderr = expectUserError(await pgmill("add", "no-such-task", "{}"));
    expect(stderr).toContain("unknown task 'no-such-task'");
    expect(stderr).toContain("known: http, log-message");
    expect(await jobCount()).toBe(before);
  });

  it("invalid JSON and bad flag values exit 2, each problem named by its flag", async () => {
    const before = await jobCount();
    const [badJson, badAttempts, several] = await Promise.all([
      pgmill("add", "log-message", "{message: 'not json'"),
      pgmill("add", "log-message", '{"message":"x"}', "--max-attempts", "abc"),
      pgmill("add", "log-message", '{"message":"x"}', "--run-at", "2030-01-01T00:00:00", "--priority", "1.5", "--max-attempts", "0", "--queue", ""),
    ]);
    expect(expectUserError(badJson)).toContain("not valid JSON");
    expect(expectUserError(badAttempts)).toMatch(/--max-attempts: /);

    const problems = expectUserError(several);
    expect(problems).toContain("Invalid arguments:");
    for (const flag of ["--run-at", "--priority", "--max-attempts", "--queue"]) expect(problems).toMatch(new RegExp(`^  ${flag}: `, "m"));
    expect(await jobCount()).toBe(before);
  });

  it("a --priority outside the column's smallint range is a user error naming --priority, like --max-attempts", async () => {
    const before = await jobCount();
    // --max-attempts is bounded to the smallint range before anything is sent...
    expect(expectUserError(await pgmill("add", "log-message", '{"message":"x"}', "--max-attempts", "40000"))).toMatch(/--max-attempts: /);
    // ...and graphile-worker's priority column is a smallint too.
    expect(expectUserError(await pgmill("add", "log-message", '{"message":"x"}', "--priority", "99999"))).toMatch(/--priority/);
    expect(await jobCount()).toBe(before);
  });
});
