/** pgmill's library surface: define tasks, enqueue jobs, run a daemon in your own process. */
// First, so it runs before the modules below: a clear error on a too-old Node.
import "./require-node.js";
export { defineTask, type TaskDefinition } from "./tasks/define-task.js";
export type { EnqueuedJob, EnqueueOptions, HandlerSettings, JobInfo, TaskContext } from "./tasks/task-context.js";
export { PermanentError } from "./tasks/permanent-error.js";
export { JobCancelledError } from "./controls/job-cancelled-error.js";
export { builtInTasks, type BuiltInTasks } from "./tasks/index.js";
export type { AddJob } from "./client/add-job.js";
export { createClient, type PgmillClient } from "./client/client.js";
export { runDaemon, type DaemonHandle, type RunDaemonOptions } from "./app/run-daemon.js";
export type { SettingOptions } from "./config/options.js";
export { PgmillError, type PgmillErrorCode } from "./errors.js";
