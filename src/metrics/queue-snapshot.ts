import { sql } from "kysely";
import type { Db } from "../db/database.js";

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
    db
      .selectFrom("graphile_worker.jobs")
      .select((eb) => [
        "task_identifier as task",
        sql<number>`count(*) filter (where locked_at is null and run_at <= now() and attempts < max_attempts)::int`.as("ready"),
        sql<number>`count(*) filter (where locked_at is null and run_at > now() and attempts < max_attempts)::int`.as("scheduled"),
        sql<number>`count(*) filter (where locked_at is not null)::int`.as("running"),
        sql<number>`coalesce(extract(epoch from now() - min(run_at) filter (
          where locked_at is null and run_at <= now() and attempts < max_attempts)), 0)::float8`.as("oldestReadyAgeSeconds"),
        eb.fn.countAll().as("total"),
      ])
      .groupBy("task_identifier")
      .execute(),
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
