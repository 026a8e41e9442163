import type { z } from "zod";
import type { Config } from "../config/config.js";
import { JOB_LIMITS } from "../engine/job-limits.js";
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
  /** Set when the crontab enqueued the job: the schedule time it fired for. */
  readonly cron: { readonly ts: string; readonly backfilled: boolean } | null;
}

export interface TaskContext {
  /** Aborts on the task's timeout and when the daemon stops waiting at shutdown. */
  readonly signal: AbortSignal;
  /** A child logger bound to this job (task, job id, attempt). */
  readonly logger: Logger;
  readonly job: JobInfo;
  /** The daemon's settings (for instance `httpAllowedHosts`, which the built-in http task obeys). */
  readonly config: Config;
}

export interface TaskDefinition<Name extends string = string, Schema extends z.ZodType = z.ZodType> {
  readonly name: Name;
  /** Validates every payload before the handler sees it; a mismatch is dead-lettered at once. */
  readonly payload: Schema;
  /** Default attempts for jobs enqueued by `addJob`, `pgmill add` and the crontab. */
  readonly maxAttempts?: number;
  /** Milliseconds before the attempt's signal aborts and it counts as timed out. */
  readonly timeout?: number;
  readonly handler: (payload: z.output<Schema>, context: TaskContext) => Promise<void>;
}

/** Declares a task; the payload type flows from the zod schema into the handler and `addJob`. */
export function defineTask<const Name extends string, Schema extends z.ZodType>(
  definition: TaskDefinition<Name, Schema>,
): TaskDefinition<Name, Schema> {
  const { maxAttempts } = definition;
  if (maxAttempts !== undefined && !(Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= JOB_LIMITS.smallintMax)) {
    throw new TypeError(`task ${definition.name}: maxAttempts must be a whole number from 1 to ${JOB_LIMITS.smallintMax}`);
  }
  if (definition.timeout !== undefined && !(definition.timeout > 0)) {
    throw new TypeError(`task ${definition.name}: timeout must be a positive number of milliseconds`);
  }
  return Object.freeze({ ...definition });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTask = TaskDefinition<string, any>;

/** Tasks by name, with each payload type kept. */
export type TaskRegistry<Tasks extends readonly AnyTask[] = readonly AnyTask[]> = {
  readonly [T in Tasks[number] as T["name"]]: T;
};

export function taskRegistry<const Tasks extends readonly AnyTask[]>(...tasks: Tasks): TaskRegistry<Tasks> {
  const byName: Record<string, AnyTask> = {};
  for (const task of tasks) {
    if (byName[task.name]) throw new TypeError(`task ${task.name} is registered twice`);
    byName[task.name] = task;
  }
  return Object.freeze(byName) as TaskRegistry<Tasks>;
}

export function findTask(registry: Readonly<Record<string, AnyTask>>, name: string): AnyTask | undefined {
  return Object.hasOwn(registry, name) ? registry[name] : undefined;
}
