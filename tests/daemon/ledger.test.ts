import { sql } from "kysely";
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import type { LedgerEntry } from "../../src/ledger/entry.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { ledgerEntry } from "../support/ledger-entries.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

function entry(jobId: number, overrides: Partial<LedgerEntry["run"]> = {}): LedgerEntry {
  return ledgerEntry({ jobId: String(jobId), payload: { jobId }, ...overrides });
}

const countRows = async () =>
  Number((await db.handle.db.selectFrom("pgmill.job_runs").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow()).n);

describe("ledger", () => {
  it("group-commits concurrent writes into a few transactions, each write resolving once durable", async () => {
    const batches: number[] = [];
    const ledger = new Ledger(db.handle.db, { batchSize: 100, logger: pino({ level: "silent" }), onBatch: (n) => batches.push(n) });
    const before = await countRows();
    await Promise.all(Array.from({ length: 250 }, (_, i) => ledger.write(entry(i))));
    expect(await countRows()).toBe(before + 250);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(250);
    expect(Math.max(...batches)).toBeLessThanOrEqual(100);
    expect(batches.length).toBeLessThanOrEqual(5);
  });

  it("writes a retried entry once (ids make commits idempotent)", async () => {
    const ledger = new Ledger(db.handle.db, { batchSize: 10, logger: pino({ level: "silent" }) });
    const once = entry(900);
    await ledger.write(once);
    await ledger.write(once);
    const rows = await db.handle.db.selectFrom("pgmill.job_runs").select("id").where("job_id", "=", "900").execute();
    expect(rows).toHaveLength(1);
  });

  it("refuses only the entry the database rejects, and writes the rest of its batch", async () => {
    const ledger = new Ledger(db.handle.db, { batchSize: 50, logger: pino({ level: "silent" }) });
    const poison = entry(1001, { attempt: 0 }); // violates attempt >= 1
    const results = await Promise.allSettled([ledger.write(entry(1000)), ledger.write(poison), ledger.write(entry(1002))]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const ids = await db.handle.db.selectFrom("pgmill.job_runs").select("job_id").where("job_id", "in", ["1000", "1001", "1002"]).execute();
    expect(ids.map((r) => r.job_id).sort()).toEqual(["1000", "1002"]);
  });

  it("stores payloads and errors Postgres text cannot hold (NUL) and bounds error sizes", async () => {
    const ledger = new Ledger(db.handle.db, { batchSize: 10, logger: pino({ level: "silent" }) });
    const huge = "x".repeat(100_000);
    await ledger.write(entry(1100, { status: "failed", error: { message: `bad\u0000byte ${huge}`, stack: huge }, payload: { s: "a\u0000b" } }));
    const row = await db.handle.db.selectFrom("pgmill.job_runs").selectAll().where("job_id", "=", "1100").executeTakeFirstOrThrow();
    expect(row.payload).toEqual({ s: "a\uFFFDb" });
    expect(Buffer.byteLength(row.error_message!)).toBeLessThanOrEqual(8192);
    expect(Buffer.byteLength(row.error_stack!)).toBeLessThanOrEqual(16384);
    expect(row.error_message!.startsWith("bad\uFFFDbyte")).toBe(true);
  });

  it("flushes on close, then refuses new writes", async () => {
    const ledger = new Ledger(db.handle.db, { batchSize: 10, logger: pino({ level: "silent" }) });
    const pending = ledger.write(entry(1200));
    await ledger.close(5_000);
    await expect(pending).resolves.toBe("recorded");
    await expect(ledger.write(entry(1201))).rejects.toThrow(/closed/);
  });

  it("applies an attempt's outcome only while the job's lock is the writer's; otherwise writes it stale, with no dead letter", async () => {
    const ledger = new Ledger(db.handle.db, { batchSize: 10, logger: pino({ level: "silent" }) });
    const { rows } = await sql<{ id: string }>`
      select id from graphile_worker.add_job('anything', '{}')
    `.execute(db.handle.db);
    const jobId = rows[0]!.id;
    // The engine's own lock, as a pool that claimed the job would leave it (test-only write).
    await sql`update graphile_worker._private_jobs set locked_by = 'pool-mine', locked_at = now() where id = ${jobId}`.execute(db.handle.db);
    const mine = ledgerEntry({ jobId, status: "succeeded" });
    await expect(ledger.write({ ...mine, heldBy: ["pool-mine"] })).resolves.toBe("recorded");

    const late = ledgerEntry({ jobId, status: "dead", error: { message: "boom", stack: null } });
    const letter = {
      jobId, jobRevision: 0, task: "anything", payload: {}, queue: null, priority: 0, jobKey: null, flags: null,
      attempts: 1, maxAttempts: 3, jobCreatedAt: null, reason: "max_attempts" as const, daemonId: "test",
    };
    await expect(ledger.write({ ...late, deadLetter: letter, heldBy: ["pool-reaped"] })).resolves.toBe("stale");
    const written = await db.handle.db.selectFrom("pgmill.job_runs").select(["id", "status", "error_message"]).where("job_id", "=", jobId).execute();
    expect(written.find((r) => r.id === late.run.id)).toMatchObject({ status: "stale", error_message: expect.stringContaining("outcome (dead) was not applied: boom") });
    expect(await db.handle.db.selectFrom("pgmill.dead_letters").select("id").where("job_id", "=", jobId).execute()).toEqual([]);
  });
});
