import { makeWorkerUtils, type WorkerUtils } from "graphile-worker";
import type pg from "pg";

/** graphile-worker's utilities (addJob, withPgClient, migrate, ...), for applications that enqueue. */
export type EngineUtils = WorkerUtils;

/** graphile-worker's WorkerUtils, on a pool of their own (closed by `release()`) or on `pgPool` (left open). */
export function openEngineUtils(target: { connectionString: string } | { pgPool: pg.Pool }): Promise<EngineUtils> {
  return makeWorkerUtils(target);
}
