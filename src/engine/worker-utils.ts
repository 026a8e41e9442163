import { makeWorkerUtils, type Job, type WorkerUtils } from "graphile-worker";

/** A job row as graphile-worker's `add_job` returns it. */
export type EngineJob = Job;
/** graphile-worker's utilities (addJob, withPgClient, migrate, ...), for applications that enqueue. */
export type EngineUtils = WorkerUtils;

/** graphile-worker's WorkerUtils on their own small pool; `release()` closes it. */
export function openEngineUtils(connectionString: string): Promise<EngineUtils> {
  return makeWorkerUtils({ connectionString });
}
