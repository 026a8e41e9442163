import { EventEmitter } from "node:events";
import type { RunStatus } from "../db/schema.js";

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
  /** A ledger transaction committed `rows` history rows in `seconds`. */
  "ledger:batch": [rows: number, seconds: number];
}

export type DaemonEvents = EventEmitter<DaemonEventMap>;

export function createDaemonEvents(): DaemonEvents {
  return new EventEmitter<DaemonEventMap>();
}
