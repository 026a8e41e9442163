import { EventEmitter } from "node:events";
import type { DeadLetterReason, RunStatus } from "../db/schema.js";
import type { EngineOperation } from "../engine/engine-failures.js";
import type { ParkReason } from "../controls/task-gate.js";

export type CancelledState = "queued" | "running";
/** A task with `concurrency` and/or `rateLimit`, as metrics show it. */
export interface LimitedTask {
  readonly task: string;
  readonly concurrency: number | null;
  readonly rate: { readonly max: number; readonly perMs: number } | null;
}

export type DaemonState = "starting" | "running" | "draining" | "stopped";

/**
 * What a daemon reports as it works; probes and metrics listen here rather
 * than reaching into the parts that do the work.
 */
export interface DaemonEventMap {
  /** starting -> running -> draining -> stopped; draining begins at the first signal. */
  state: [state: DaemonState];
  "attempt:start": [task: string];
  /** After the attempt's history row is durable. */
  "attempt:finish": [task: string, status: RunStatus, seconds: number];
  /** graphile-worker's pool stopped by itself and a new one is starting. */
  "pool:restart": [restarts: number];
  /** The supervised pool came up (true) or went down (false). */
  "pool:running": [running: boolean];
  /** A checkout of a shared-pool connection queued this long (every connection was busy). */
  "db:pool:wait": [seconds: number];
  /** The engine could not fetch jobs, or write back completions and failures; readiness watches for a streak of these. */
  "engine:failure": [operation: EngineOperation, message: string];
  /** The engine did that successfully (fetches only: a completion's commit has no event). */
  "engine:success": [operation: EngineOperation];
  /** A ledger transaction committed `rows` history rows in `seconds`. */
  "ledger:batch": [rows: number, seconds: number];
  /** The gate handed a claimed job back unrun, its attempt not spent (src/controls/task-gate.ts). */
  "job:parked": [task: string, reason: ParkReason];
  /** The tasks this daemon runs under cluster-wide limits (once, at start): src/tasks/task-limits.ts. */
  "tasks:limited": [limits: readonly LimitedTask[]];
  /** This daemon now holds `held` concurrency slots of a limited task. */
  "task:slots": [task: string, held: number];
  /** This daemon read a new set of paused tasks (at start, then on every change). */
  "tasks:paused": [tasks: readonly string[]];
  /** A job was moved to dead letters (by an attempt, the sweep, or the reaper). */
  "job:dead": [task: string, reason: DeadLetterReason];
  /**
   * A job was cancelled: `running`, an attempt of this daemon recorded `cancelled`;
   * `queued`, a queued job pgmill.cancel_job removed, counted by the daemon that saw it first.
   */
  "job:cancelled": [task: string, state: CancelledState];
  /** The heartbeat loop ticked (whether or not the database answered): liveness. */
  heartbeat: [];
  /** Whether the database answered the last heartbeat, and if not, why. */
  database: [ok: boolean, error: string | null];
  /** Whether the schema is at the migration this build expects. */
  migrations: [current: boolean];
  /** graphile-worker's cron enqueued a tick of these crontab lines. */
  "cron:enqueued": [identifiers: string[], at: Date];
  /** The crontab (re)loaded with these lines. */
  "cron:loaded": [identifiers: string[]];
  /** The crontab (re)loaded with these `?overlap=skip` lines. */
  "cron:overlap-lines": [identifiers: string[]];
  /** A tick of an `?overlap=skip` line was dropped (reported by one daemon only). */
  "cron:overlap-skip": [identifier: string, tick: Date];
  /** The crontab lines paused now changed. */
  "cron:paused": [identifiers: string[]];
  /** This daemon marked silent peers dead and released their jobs. */
  reaped: [daemons: string[], jobs: number];
  /** A peer had reaped this daemon; it dropped its pool and goes on under a new id. */
  rejoined: [previousId: string, id: string];
}

export type DaemonEvents = EventEmitter<DaemonEventMap>;

export function createDaemonEvents(): DaemonEvents {
  return new EventEmitter<DaemonEventMap>();
}
