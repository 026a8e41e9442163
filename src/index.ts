/** pgmill's library surface: define tasks, enqueue jobs. */
// First, so it runs before the modules below: a clear error on a too-old Node.
import "./require-node.js";
export { defineTask, taskRegistry, type JobInfo, type TaskContext, type TaskDefinition } from "./tasks/define-task.js";
export { PermanentError } from "./tasks/permanent-error.js";
export { tasks, type TaskName, type Tasks } from "./tasks/index.js";
export { makeAddJob, type AddJob, type AddJobOptions } from "./client/add-job.js";
export { createClient, type PgmillClient } from "./client/client.js";
export { PgmillError, type PgmillErrorCode } from "./errors.js";
