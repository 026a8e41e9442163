import { sql } from "kysely";
import { settlesWithin } from "../async/settles-within.js";
import type { Db } from "../db/database.js";
import { jobsStillHeld } from "../engine/job-reads.js";
import type { Logger } from "../logging/logger.js";
import { staleEntry, type LedgerEntry, type Recorded } from "./entry.js";
import { deadLetterRow, jobRunRow, rescheduleRow } from "./rows.js";

interface Pending {
  readonly entry: LedgerEntry;
  readonly resolve: (recorded: Recorded) => void;
  readonly reject: (error: Error) => void;
}

export interface LedgerOptions {
  readonly batchSize: number;
  readonly logger: Logger;
  /** Called after each committed batch (metrics). */
  readonly onBatch?: (size: number, seconds: number) => void;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * Writes history rows (and dead letters) with group commit: while one batch is
 * committing, new entries queue up and go together in the next transaction.
 * `write` resolves only once its entry is durable, which is what lets the
 * daemon promise "history before completion". A failed commit is retried with
 * backoff and never dropped; row ids make the retry idempotent.
 *
 * It also guards completion: an entry with `heldBy` is applied only if the
 * job is still locked by this daemon, checked in the same transaction that
 * writes the row; otherwise it is written as `stale` and the writer learns it
 * must not complete the job (graphile-worker's completion deletes by id
 * without checking the lock).
 */
export class Ledger {
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private closedWith: Error | null = null;

  constructor(
    private readonly db: Db,
    private readonly options: LedgerOptions,
  ) {}

  get pendingCount(): number {
    return this.queue.length;
  }

  write(entry: LedgerEntry): Promise<Recorded> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<Recorded>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      // Entries written in the same tick share the first batch.
      this.flushing ??= new Promise<void>((done) => setImmediate(done)).then(() => this.drain());
    });
  }

  /** Waits until everything written so far is durable. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /**
   * Flushes, giving up after `deadlineMs`: whatever could not be written is
   * logged at error level by job and attempt (never silently lost; payloads
   * stay out of logs) and its writers rejected. Those jobs were neither
   * completed nor moved, so they stay in graphile-worker and run again.
   */
  async close(deadlineMs: number): Promise<void> {
    const flushed = await settlesWithin(this.flush(), deadlineMs);
    this.closedWith = new Error("ledger is closed");
    if (!flushed) {
      const lost = this.queue.splice(0);
      this.options.logger.error(
        { entries: lost.map((p) => identify(p.entry)) },
        `ledger: ${lost.length} history rows could not be written before shutdown`,
      );
      for (const p of lost) p.reject(new Error("ledger closed before this entry was written"));
    }
  }

  private async drain(): Promise<void> {
    let failures = 0;
    try {
      while (this.queue.length && !this.closedWith) {
        const batch = this.queue.slice(0, this.options.batchSize);
        const started = performance.now();
        let recorded: Recorded[];
        try {
          recorded = await this.commit(batch.map((p) => p.entry));
        } catch (error) {
          if (isDataError(error)) {
            // Retrying cannot fix bad data, and one poison entry must not hold
            // up the rest: write them one by one and refuse only the bad ones.
            this.queue.splice(0, batch.length);
            await this.commitEachAlone(batch);
            continue;
          }
          failures++;
          const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (failures - 1));
          this.options.logger.warn(
            { err: error, rows: batch.length, retryInMs: delay },
            "ledger: batch commit failed; retrying",
          );
          await new Promise((r) => setTimeout(r, delay));
          continue;
        }
        failures = 0;
        this.queue.splice(0, batch.length);
        this.options.onBatch?.(batch.length, (performance.now() - started) / 1000);
        batch.forEach((p, i) => p.resolve(recorded[i]!));
      }
    } finally {
      this.flushing = null;
    }
  }

  private async commitEachAlone(batch: Pending[]): Promise<void> {
    for (const pending of batch) {
      try {
        const [recorded] = await this.commit([pending.entry]);
        pending.resolve(recorded!);
      } catch (error) {
        this.options.logger.error({ err: error, entry: identify(pending.entry) }, "ledger: the database refused this history row");
        pending.reject(error as Error);
      }
    }
  }

  /**
   * The lock check, then runs and their dead letters in one statement (an
   * implicit transaction). No transaction spans the two: a lock cannot be
   * taken from a live daemon between them, since the attempt runner writes
   * only within its lease (a peer reaps only after dead-after of silence).
   */
  private async commit(entries: LedgerEntry[]): Promise<Recorded[]> {
    const guarded = entries.filter((e) => e.heldBy);
    const held = await jobsStillHeld(
      this.db,
      guarded.map((e) => e.run.jobId),
      [...new Set(guarded.flatMap((e) => e.heldBy!))],
    );
    const recorded = entries.map((e): Recorded => (!e.heldBy || held.has(e.run.jobId) ? "recorded" : "stale"));
    await this.insert(entries.map((e, i) => (recorded[i] === "stale" ? staleEntry(e) : e)));
    return recorded;
  }

  private async insert(entries: LedgerEntry[]): Promise<void> {
    const db = this.db;
    const runs = db
      .insertInto("pgmill.job_runs")
      .values(entries.map((e) => jobRunRow(e.run)))
      .onConflict((oc) => oc.columns(["id", "started_at"]).doNothing());
    const dead = entries.filter((e) => e.deadLetter);
    const retries = entries.filter((e) => e.reschedule);
    const letters = () =>
      db
        .insertInto("pgmill.dead_letters")
        .values(dead.map((e) => deadLetterRow(e.deadLetter!, e.run.error)))
        .onConflict((oc) => oc.column("job_id").doNothing());
    if (!retries.length) {
      if (!dead.length) await runs.execute();
      else
        await db
          .with("runs", () => runs)
          .insertInto("pgmill.dead_letters")
          .values(dead.map((e) => deadLetterRow(e.deadLetter!, e.run.error)))
          .onConflict((oc) => oc.column("job_id").doNothing())
          .execute();
      return;
    }
    // One statement: history rows, their dead letters and their retry requests commit together.
    const requests = db
      .insertInto("pgmill.job_reschedules")
      .values(retries.map((e) => rescheduleRow(e.run.jobId, e.reschedule!)))
      .onConflict((oc) =>
        oc.column("job_id").doUpdateSet((eb) => ({
          run_at: eb.ref("excluded.run_at"),
          attempts: eb.ref("excluded.attempts"),
          reason: eb.ref("excluded.reason"),
        })),
      );
    let statement = db.with("runs", () => runs).with("requests", () => requests);
    if (dead.length) statement = statement.with("letters", letters) as unknown as typeof statement;
    await statement.selectNoFrom(sql.lit(1).as("done")).execute();
  }
}

/** An entry as logged: enough to find the job and attempt, never the payload. */
function identify({ run, deadLetter }: LedgerEntry) {
  const { id: runId, jobId, task, attempt, status } = run;
  return { runId, jobId, task, attempt, status, deadLetter: deadLetter?.reason ?? null };
}

/** SQLSTATE classes 22 (data exception) and 23 (constraint violation): not transient. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("22") || code.startsWith("23"));
}
