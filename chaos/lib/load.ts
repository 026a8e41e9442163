import { sql } from "kysely";
import type { Db } from "../../src/db/database.js";

const TICK_MS = 100;
/** High enough that retries caused by faults never dead-letter a job. */
const MAX_ATTEMPTS = 25;

/**
 * Enqueues `http` jobs at a fixed rate with graphile_worker.add_job, as an
 * application would. Only ids the database returned count as enqueued; a batch
 * that failed (the database away) is counted apart and never expected to run.
 */
export class Load {
  /** Job id -> when its insert returned. */
  readonly enqueued = new Map<string, number>();
  failedBatches = 0;
  private timer: NodeJS.Timeout | null = null;
  private inserting: Promise<void> | null = null;
  private owed = 0;

  constructor(
    private readonly db: Db,
    private readonly jobUrl: string,
    private readonly perSecond: number,
    /** A task taking the `http` task's payload (`{ url }`). */
    private readonly task = "http",
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.owed += (this.perSecond * TICK_MS) / 1000;
      // One insert at a time: a stalled database must not pile up connections.
      if (!this.inserting) this.inserting = this.insert().finally(() => (this.inserting = null));
    }, TICK_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inserting;
  }

  get ids(): string[] {
    return [...this.enqueued.keys()];
  }

  private async insert(): Promise<void> {
    const count = Math.floor(this.owed);
    if (count < 1) return;
    this.owed -= count;
    try {
      const ids = await addHttpJobs(this.db, this.jobUrl, count, undefined, this.task);
      const now = Date.now();
      for (const id of ids) this.enqueued.set(id, now);
    } catch {
      this.failedBatches++;
    }
  }
}

/** Adds `count` `http` jobs (or of `task`, same payload) calling `jobUrl` (in named queue `queue` if given) in one add_job statement; returns their ids. */
export async function addHttpJobs(db: Db, jobUrl: string, count: number, queue?: string, task = "http"): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select (graphile_worker.add_job(
      ${task}::text,
      json_build_object('url', ${jobUrl}::text),
      queue_name => ${queue ?? null}::text,
      max_attempts => ${MAX_ATTEMPTS}::int
    )).id as id
      from generate_series(1, ${count}::int)
  `.execute(db);
  return rows.map((r) => r.id);
}
