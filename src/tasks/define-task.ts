import type { z } from "zod";
import { parseRetrySchedule, type RetryScheduleInput } from "../controls/retry-schedule.js";
import { JOB_LIMITS } from "../engine/job-limits.js";
import { parseTaskLimits, type TaskLimitsInput } from "./task-limits.js";
import type { TaskContext } from "./task-context.js";

export type { JobInfo, TaskContext, HandlerSettings } from "./task-context.js";

/**
 * Marks what `defineTask` returns. A registered symbol, so a task made by
 * another copy of pgmill (the user's `node_modules` next to a global CLI) is
 * still recognised.
 */
const TASK_BRAND = Symbol.for("pgmill.task");

export interface TaskDefinition<Name extends string = string, Schema extends z.ZodType = z.ZodType> {
  readonly name: Name;
  /** Validates every payload before the handler sees it; a mismatch is dead-lettered at once. */
  readonly payload: Schema;
  /** Default attempts for jobs enqueued by `addJob`, `pgmill add` and the crontab. */
  readonly maxAttempts?: number;
  /** Milliseconds before the attempt's signal aborts and it counts as timed out. */
  readonly timeout?: number;
  /**
   * When to retry after a failed attempt: `{ delays: ["1m", "5m", "15m"] }`
   * (the last repeats) or `{ exponential: { first: "1s", factor: 2, cap: "30s", jitter: 0.1 } }`.
   * Without it graphile-worker's curve applies (exp(attempts) seconds).
   */
  readonly retry?: RetryScheduleInput;
  /** At most N attempts of this task running at once over all daemons (src/controls/task-limits-check.ts). */
  readonly concurrency?: TaskLimitsInput["concurrency"];
  /** At most `max` attempts started per window `per` ("1s", "1m") over all daemons. */
  readonly rateLimit?: TaskLimitsInput["rateLimit"];
  readonly handler: (payload: z.output<Schema>, context: TaskContext) => Promise<void>;
}

/** Task names the crontab can schedule (graphile-worker's crontab grammar). */
const TASK_NAME = /^[_a-zA-Z][_a-zA-Z0-9:/-]*$/;

/** Declares a task; the payload type flows from the zod schema into the handler and `addJob`. */
export function defineTask<const Name extends string, Schema extends z.ZodType>(
  definition: TaskDefinition<Name, Schema>,
): TaskDefinition<Name, Schema> {
  const problems = taskProblems(definition);
  if (problems.length) throw new TypeError(`task ${String(definition?.name)}: ${problems.join("; ")}`);
  return Object.freeze(Object.assign({ ...definition }, { [TASK_BRAND]: true }));
}

/** What is wrong with a would-be task, in words; empty when it is one. */
function taskProblems(definition: Partial<AnyTask> | undefined): string[] {
  const problems: string[] = [];
  const { name, payload, maxAttempts, timeout, handler, retry } = definition ?? {};
  if (typeof name !== "string" || !TASK_NAME.test(name) || name.length > JOB_LIMITS.taskIdentifierLength) {
    problems.push(
      `name must be 1 to ${JOB_LIMITS.taskIdentifierLength} characters: a letter or _, then letters, digits, _ - : /`,
    );
  }
  if (typeof (payload as { safeParse?: unknown } | undefined)?.safeParse !== "function") {
    problems.push("payload must be a zod schema");
  }
  if (typeof handler !== "function") problems.push("handler must be a function");
  if (maxAttempts !== undefined && !(Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= JOB_LIMITS.smallintMax)) {
    problems.push(`maxAttempts must be a whole number from 1 to ${JOB_LIMITS.smallintMax}`);
  }
  if (timeout !== undefined && !(typeof timeout === "number" && timeout > 0)) {
    problems.push("timeout must be a positive number of milliseconds");
  }
  if (retry !== undefined) {
    const parsed = parseRetrySchedule(retry);
    if ("problems" in parsed) problems.push(...parsed.problems);
  }
  const limits = parseTaskLimits(definition);
  if ("problems" in limits) problems.push(...limits.problems);
  return problems;
}

/** True for what `defineTask` returned, from this copy of pgmill or another. */
export function isTask(value: unknown): value is AnyTask {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[TASK_BRAND] === true;
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
