import { taskRegistry } from "./define-task.js";
import { httpTask } from "./http.js";
import { logMessageTask } from "./log-message.js";

/** The tasks every daemon runs; a user's own come from their tasks directory or `runDaemon({ tasks })`. */
export const builtInTasks = taskRegistry(httpTask, logMessageTask);

export type BuiltInTasks = typeof builtInTasks;
