import type { EngineUtils } from "../engine/worker-utils.js";
import { z } from "zod";
import { PgmillError } from "../errors.js";
import { findTask, type AnyTask } from "../tasks/define-task.js";
import type { EnqueuedJob, EnqueueOptions } from "../tasks/task-context.js";

export type { EnqueuedJob, EnqueueOptions as AddJobOptions } from "../tasks/task-context.js";

export type AddJob<Tasks extends Readonly<Record<string, AnyTask>>> = <Name extends keyof Tasks & string>(
  task: Name,
  payload: z.input<Tasks[Name]["payload"]>,
  options?: EnqueueOptions,
) => Promise<EnqueuedJob>;

/**
 * A typed `addJob`: the payload type comes from the task's schema, and the
 * payload is validated before anything is inserted. The payload is stored as
 * given (not as parsed), so the handler parses the same input again.
 */
export function makeAddJob<Tasks extends Readonly<Record<string, AnyTask>>>(
  utils: Pick<EngineUtils, "addJob">,
  tasks: Tasks,
): AddJob<Tasks> {
  return async (name, payload, options = {}) => {
    const task = findTask(tasks, name);
    if (!task) {
      throw new PgmillError("PGMILL_UNKNOWN_TASK", `unknown task '${name}' (known: ${Object.keys(tasks).sort().join(", ")})`);
    }
    const check = task.payload.safeParse(payload);
    if (!check.success) {
      throw new PgmillError("PGMILL_INVALID_PAYLOAD", `payload for task '${name}':\n${z.prettifyError(check.error)}`);
    }
    const job = await utils.addJob(name as string, payload as unknown, {
      runAt: options.runAt,
      priority: options.priority,
      maxAttempts: options.maxAttempts ?? task.maxAttempts,
      jobKey: options.jobKey,
      jobKeyMode: options.jobKeyMode,
      queueName: options.queue,
      flags: options.flags,
    });
    return Object.freeze({
      id: String(job.id),
      task: job.task_identifier,
      queue: options.queue ?? null,
      key: job.key,
      runAt: new Date(job.run_at),
      maxAttempts: job.max_attempts,
    });
  };
}
