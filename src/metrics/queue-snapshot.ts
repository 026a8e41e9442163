import { sql } from "kysely";
import type { Db } from "../db/database.js";
import { jobCountsByTask } from "../engine/job-reads.js";

export interface QueueSnapshot {
  readonly jobs: readonly { task: string; ready: number; scheduled: number; running: number; oldestReadyAgeSeconds: number }[];
  readonly deadLetters: readonly { task: string; pending: number }[];
  readonly liveDaemons: number;
}

/**
 * The database-wide numbers behind the queue gauges, in one round trip. Read
 * at scrape time through `CachedSnapshot`, so many replicas scraped often
 * still cost the database one cheap aggregate per replica per TTL.
 */
export async function readQueueSnapshot(db: Db, deadAfterMs: number): Promise<QueueSnapshot> {
  const [jobs, deadLetters, daemons] = await Promise.all([
    jobCountsByTask(db),
    db
      .selectFrom("pgmill.dead_letters")
      .select(["task", sql<number>`count(*)::int`.as("pending")])
      .where("retried_at", "is", null)
      .groupBy("task")
      .execute(),
    db
      .selectFrom("pgmill.daemons")
      .select(sql<number>`count(*)::int`.as("live"))
      .where("state", "not in", ["stopped", "dead"])
      .where("last_seen", ">", sql<Date>`now() - make_interval(secs => ${deadAfterMs / 1000})`)
      .executeTakeFirstOrThrow(),
  ]);
  return { jobs, deadLetters, liveDaemons: daemons.live };
}

/** Serves one snapshot per `ttlMs`, sharing a read in progress; keeps the last good one if a read fails. */
export class CachedSnapshot {
  private value: QueueSnapshot | null = null;
  private readAt = 0;
  private reading: Promise<QueueSnapshot | null> | null = null;

  constructor(
    private readonly read: () => Promise<QueueSnapshot>,
    private readonly ttlMs: number,
  ) {}

  async get(): Promise<QueueSnapshot | null> {
    if (this.value && Date.now() - this.readAt < this.ttlMs) return this.value;
    this.reading ??= this.read()
      .then((value) => {
        this.value = value;
        this.readAt = Date.now();
        return value;
      })
      .catch(() => this.value)
      .finally(() => (this.reading = null));
    return this.reading;
  }
}
