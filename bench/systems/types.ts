import type { BenchDatabase } from "../lib/server.js";
import type { EngineCounts } from "./engine-counters.js";
import { pollUntilEmpty, type JobKind, type JobProbe } from "../lib/probe.js";

/** `pgmill[SETTING=value ...]` is pgmill with settings over its defaults (--variants). */
export type SystemId = "pgmill" | `pgmill[${string}]` | "gw-default" | "gw-tuned" | "boss-job" | "boss-batch";

/**
 * One job system under test. The harness calls, per measurement:
 * `prepare(db)` on a fresh database cloned from the system's template,
 * `enqueue` (bulk, before `start`) or `enqueueOne` (paced, after it),
 * `start`, `waitForCompletion`, `stop`.
 */
export interface SystemAdapter {
  readonly id: SystemId;
  readonly label: string;
  /** The settings it runs with, in words, for the report. */
  readonly settings: string;
  /** How failed jobs are retried, and how soon the system lets a retry be due. */
  readonly retryNote: string;
  /** Whether the jobs run in this process (RSS then reads this process, harness included). */
  readonly inProcess: boolean;

  /** Once per run: installs the system's schema in its template database, closing every connection after. */
  install(template: BenchDatabase): Promise<void>;
  /** Connects to a fresh database; every job's handler reports to `probe`. */
  prepare(db: BenchDatabase, probe: JobProbe): Promise<void>;
  /** Bulk, set-based enqueue of jobs `first … first + n - 1`, in as few statements as the system allows. */
  enqueue(n: number, kind: JobKind, first?: number): Promise<void>;
  /** One job, one round trip, as an application would enqueue it. */
  enqueueOne(i: number, kind: JobKind): Promise<void>;
  /** Starts the workers. */
  start(): Promise<void>;
  /** Jobs in the database not yet completed (retries pending count as not completed). */
  remaining(): Promise<number>;
  /** Waits until `n` jobs succeeded and the database agrees; returns performance.now() when it did. */
  waitForCompletion(n: number, deadline: number): Promise<number>;
  /** Stops the workers and closes every connection. */
  stop(): Promise<void>;
  /** Errors the system reported on its own (not thrown) since the last call, for the log. */
  takeErrors?(): string[];
  /** graphile-worker local-queue counts since the last call (systems that have one). */
  takeEngineCounts?(): EngineCounts;
}

/** The common completion wait: in-process count first (cheap), then the database is the authority. */
export async function waitForCompletion(
  adapter: Pick<SystemAdapter, "remaining" | "id">,
  probe: JobProbe,
  n: number,
  deadline: number,
): Promise<number> {
  await probe.untilSucceeded(n, deadline);
  return pollUntilEmpty(() => adapter.remaining(), deadline, 10, adapter.id);
}
