import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { applyRetention, PARTITION_DAYS_AHEAD } from "../../src/ledger/retention.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

const DAY = 86_400_000;
const dayName = (t: number) => `job_runs_p${new Date(t).toISOString().slice(0, 10).replaceAll("-", "")}`;

async function insertRun(startedAt: Date): Promise<string> {
  const id = randomUUID();
  await db.handle.db
    .insertInto("pgmill.job_runs")
    .values({
      id, job_id: 1, task: "t", queue: null, job_key: null, attempt: 1, max_attempts: 1, status: "succeeded",
      error_message: null, error_stack: null, started_at: startedAt, finished_at: startedAt, duration_ms: 1,
      daemon_id: "test", payload: null,
    })
    .execute();
  return id;
}

async function partitionOf(id: string): Promise<string | undefined> {
  const { rows } = await sql<{ part: string }>`select tableoid::regclass::text as part from pgmill.job_runs where id = ${id}::uuid`.execute(db.handle.db);
  return rows[0]?.part;
}

async function partitions(): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'pgmill.job_runs'::regclass order by 1`.execute(db.handle.db);
  return rows.map((r) => r.name);
}

describe("history partitions and retention", () => {
  it("keeps daily partitions ready ahead, and catches rows no partition covers in the default one", async () => {
    const now = Date.now();
    expect(await partitions()).toEqual(expect.arrayContaining([dayName(now - DAY), dayName(now), dayName(now + PARTITION_DAYS_AHEAD * DAY)]));
    expect(await partitionOf(await insertRun(new Date()))).toBe(`pgmill.${dayName(now)}`);
    expect(await partitionOf(await insertRun(new Date(now - 40 * DAY)))).toBe("pgmill.job_runs_default");
  });

  it("moves a day's rows out of the default partition when that day's partition is created", async () => {
    const old = await insertRun(new Date(Date.now() - 45 * DAY));
    await sql`select pgmill.create_job_runs_partition(${new Date(Date.now() - 45 * DAY).toISOString().slice(0, 10)}::date)`.execute(db.handle.db);
    expect(await partitionOf(old)).toBe(`pgmill.${dayName(Date.now() - 45 * DAY)}`);
  });

  it("drops whole partitions past retention, clears old default rows, and purges old dead letters", async () => {
    const recent = await insertRun(new Date());
    const letter = (diedAt: Date, jobId: number) => ({
      job_id: jobId, job_revision: 0, task: "t", payload: "{}", queue: null, priority: 0, job_key: null, flags: null,
      attempts: 1, max_attempts: 1, job_created_at: null, reason: "max_attempts" as const, last_error: null,
      last_error_stack: null, daemon_id: "test", died_at: diedAt,
    });
    await db.handle.db.insertInto("pgmill.dead_letters").values([letter(new Date(Date.now() - 100 * DAY), 501), letter(new Date(), 502)]).execute();

    const result = await applyRetention(db.handle.db, { historyRetentionDays: 30, deadLetterRetentionDays: 90 });
    expect(result).toMatchObject({ ran: true, deadLettersPurged: 1 });
    expect(result.partitionsDropped).toBeGreaterThanOrEqual(1);
    expect(await partitions()).not.toContain(dayName(Date.now() - 45 * DAY));
    const old = await db.handle.db.selectFrom("pgmill.job_runs").select("id").where("started_at", "<", new Date(Date.now() - 30 * DAY)).execute();
    expect(old).toEqual([]);
    expect(await partitionOf(recent)).toBeDefined();
    const letters = await db.handle.db.selectFrom("pgmill.dead_letters").select("job_id").execute();
    expect(letters.map((l) => l.job_id)).toEqual(["502"]);
  });
});
