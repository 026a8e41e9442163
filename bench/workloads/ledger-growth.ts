import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { loadConfig } from "../../src/config/config.js";
import { openDatabase, type Db } from "../../src/db/database.js";
import { Ledger } from "../../src/ledger/ledger.js";
import type { LedgerEntry } from "../../src/ledger/entry.js";
import { applyRetention } from "../../src/ledger/retention.js";
import { median } from "../lib/stats.js";
import { silentLogger } from "../systems/pgmill.js";
import type { BenchContext } from "./context.js";

/** History is spread over this many past days, so retention (30 days) has old partitions to drop. */
const HISTORY_DAYS = 40;
const RETENTION_DAYS = 30;
/** Group commits timed at each history size. */
const COMMITS_PER_STEP = 200;

export interface LedgerGrowthStep {
  readonly historyRows: number;
  readonly msPerCommit: number;
  readonly usPerRow: number;
}

export interface LedgerGrowthSummary {
  readonly rowsPerCommit: number;
  readonly steps: LedgerGrowthStep[];
  /** Last step's cost per row over the first's: 1.00 is flat. */
  readonly growth: number;
  readonly prune: {
    readonly rowsDropped: number;
    readonly partitionsDropped: number;
    /** applyRetention(): drops whole partitions. */
    readonly retentionMs: number;
    /** The same rows removed with DELETE, on a copy of the same database, for comparison. */
    readonly deleteMs: number;
  };
}

/**
 * Workload 6: the ledger as history grows. A fresh pgmill database gets
 * history rows in daily partitions over the past 40 days (set-based SQL), up
 * to each size in turn; at each size the ledger writes 200 group commits of
 * PGMILL_CONCURRENCY rows (a busy daemon's batch), timed one by one. Then
 * retention drops the partitions past 30 days; a DELETE of the same rows on a
 * copy of the database shows what it replaces.
 */
export async function ledgerGrowthWorkload(ctx: BenchContext, sizes: readonly number[]): Promise<LedgerGrowthSummary> {
  const pgmill = ctx.adapters.find((a) => a.id === "pgmill")!;
  const db = await ctx.dbs.fresh("ledger", ctx.templates.get(pgmill.id)!);
  const rowsPerCommit = loadConfig({}, {}).concurrency;
  const steps: LedgerGrowthStep[] = [];
  let handle = openDatabase(db.url, { maxConnections: 2, applicationName: "pgmill-bench-ledger" });
  try {
    await createPastPartitions(handle.db);
    let historyRows = 0;
    for (const size of sizes) {
      if (size > historyRows) {
        await fillHistory(handle.db, historyRows, size - historyRows);
        historyRows = size;
      }
      const ms = await timeCommits(handle.db, rowsPerCommit);
      historyRows += COMMITS_PER_STEP * rowsPerCommit;
      steps.push({ historyRows: size, msPerCommit: ms, usPerRow: (ms * 1000) / rowsPerCommit });
      ctx.log(`ledger: ${size.toLocaleString("en")} history rows: ${ms.toFixed(2)} ms per commit of ${rowsPerCommit} rows`);
    }
    await handle.close();
    const copy = await ctx.dbs.fresh("ledger_copy", db);
    handle = openDatabase(db.url, { maxConnections: 2, applicationName: "pgmill-bench-ledger" });
    const prune = await timePrune(handle.db, copy.url);
    ctx.log(
      `ledger: retention dropped ${prune.partitionsDropped} partitions (${prune.rowsDropped.toLocaleString("en")} rows) ` +
        `in ${prune.retentionMs.toFixed(1)} ms; DELETE of the same rows ${prune.deleteMs.toFixed(0)} ms`,
    );
    await ctx.dbs.drop(copy);
    const first = steps[0]!.usPerRow;
    return { rowsPerCommit, steps, growth: steps.at(-1)!.usPerRow / first, prune };
  } finally {
    await handle.close();
    await ctx.dbs.drop(db);
  }
}

async function createPastPartitions(db: Db): Promise<void> {
  await sql`
    select pgmill.create_job_runs_partition(((now() at time zone 'UTC')::date - d))
    from generate_series(1, ${HISTORY_DAYS}) as d
  `.execute(db);
}

/** `n` succeeded attempts, spread evenly over the past days, as the ledger writes them. */
async function fillHistory(db: Db, first: number, n: number): Promise<void> {
  const chunk = 250_000;
  for (let done = 0; done < n; done += chunk) {
    const count = Math.min(chunk, n - done);
    await sql`
      insert into pgmill.job_runs
        (id, job_id, task, queue, job_key, attempt, max_attempts, status, started_at, finished_at, duration_ms, daemon_id, payload)
      select gen_random_uuid(), i, 'bench', null, null, 1, 25, 'succeeded', t, t + interval '1 ms', 1, 'bench-fill',
             jsonb_build_object('i', i, 'k', 'noop')
      from generate_series(${first + done + 1}::bigint, ${first + done + count}::bigint) as i,
           lateral (select now() - interval '1 day' * (1 + i % ${HISTORY_DAYS}) as t) as started
    `.execute(db);
  }
  await sql`analyze pgmill.job_runs`.execute(db);
}

/** Median wall time of one group commit of `rows` fresh history rows. */
async function timeCommits(db: Db, rows: number): Promise<number> {
  const times: number[] = [];
  const ledger = new Ledger(db, { batchSize: rows, logger: silentLogger, onBatch: (_n, seconds) => times.push(seconds * 1000) });
  for (let c = 0; c < COMMITS_PER_STEP; c++) {
    // Written in one tick, so they share one commit, as a busy daemon's slots do.
    await Promise.all(Array.from({ length: rows }, (_, i) => ledger.write(entry(c * rows + i))));
  }
  return median(times);
}

function entry(i: number): LedgerEntry {
  const now = new Date();
  return {
    run: {
      id: randomUUID(),
      jobId: String(10_000_000_000 + i),
      task: "bench",
      queue: null,
      jobKey: null,
      attempt: 1,
      maxAttempts: 25,
      status: "succeeded",
      error: null,
      startedAt: now,
      finishedAt: now,
      durationMs: 0.2,
      daemonId: "bench-ledger",
      payload: { i, k: "noop" },
    },
  };
}

async function timePrune(db: Db, copyUrl: string): Promise<LedgerGrowthSummary["prune"]> {
  const count = async () => (await sql<{ n: number }>`select count(*)::int as n from pgmill.job_runs`.execute(db)).rows[0]!.n;
  const before = await count();
  let started = performance.now();
  const result = await applyRetention(db, { historyRetentionDays: RETENTION_DAYS, deadLetterRetentionDays: 90 });
  const retentionMs = performance.now() - started;
  const rowsDropped = before - (await count());
  // The copy still holds what retention dropped: everything older than the oldest row kept.
  const kept = await sql<{ oldest: Date }>`select min(started_at) as oldest from pgmill.job_runs`.execute(db);
  const copy = openDatabase(copyUrl, { maxConnections: 1, applicationName: "pgmill-bench-ledger" });
  try {
    started = performance.now();
    await sql`delete from pgmill.job_runs where started_at < ${kept.rows[0]!.oldest}`.execute(copy.db);
    const deleteMs = performance.now() - started;
    return { rowsDropped, partitionsDropped: result.partitionsDropped, retentionMs, deleteMs };
  } finally {
    await copy.close();
  }
}
