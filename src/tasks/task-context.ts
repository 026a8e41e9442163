import type pg from "pg";
import type { Logger } from "../logging/logger.js";

/** What a handler knows about the job it is running. */
export interface JobInfo {
  readonly id: string;
  readonly task: string;
  readonly queue: string | null;
  readonly key: string | null;
  /** 1 on the first attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly priority: number;
  readonly runAt: Date;
  readonly createdAt: Date;
  /** Set when the crontab enqueued the job: the schedule time it fired for; `manual` when run by hand (`pgmill cron run`). */
  readonly cron: { readonly ts: string; readonly backfilled: boolean; readonly manual: boolean } | null;
}

/** The daemon's settings a handler may read: never a connection string or other credential. */
export interface HandlerSettings {
  /** Hosts the built-in `http` task may call (PGMILL_HTTP_ALLOWED_HOSTS); null: any host. */
  readonly httpAllowedHosts: readonly string[] | null;
  /** Jobs this daemon runs at once. */
  readonly concurrency: number;
  /** The drain budget: how long a running handler may take to finish after SIGTERM. */
  readonly shutdownTimeoutMs: number;
}

export interface EnqueueOptions {
  readonly runAt?: Date;
  /** Lower runs sooner (default 0). */
  readonly priority?: number;
  /** Defaults to the task's `maxAttempts` (25 if it has none). */
  readonly maxAttempts?: number;
  /** Deduplicates: a pending job with the same key is replaced. */
  readonly jobKey?: string;
  readonly jobKeyMode?: "replace" | "preserve_run_at" | "unsafe_dedupe";
  /** Jobs in one queue run one at a time, in order. */
  readonly queue?: string;
  readonly flags?: string[];
}

/** A job as enqueued. */
export interface EnqueuedJob {
  readonly id: string;
  readonly task: string;
  readonly queue: string | null;
  readonly key: string | null;
  readonly runAt: Date;
  readonly maxAttempts: number;
}

export interface TaskContext {
  /**
   * Aborts on the task's timeout, when the daemon stops waiting at shutdown,
   * and when an operator cancels the job (reason: a `JobCancelledError`).
   */
  readonly signal: AbortSignal;
  /** A child logger bound to this job (task, job id, attempt). */
  readonly logger: Logger;
  readonly job: JobInfo;
  readonly settings: HandlerSettings;
  /**
   * A connection from the handlers' own pool (PGMILL_TASK_POOL_SIZE), apart
   * from the daemon's: busy handlers cannot starve claiming, completions or
   * the heartbeat. Released when `body` settles.
   */
  withPgClient<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Enqueues a follow-up job of any task this daemon knows, payload validated first. */
  addJob(task: string, payload: unknown, options?: EnqueueOptions): Promise<EnqueuedJob>;
}
