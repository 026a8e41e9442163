import { taskRegistry } from "./define-task.js";
import { httpTask } from "./http.js";
import { logMessageTask } from "./log-message.js";

/** Every task this daemon runs. Add yours here: one file per task in src/tasks. */
export const tasks = taskRegistry(httpTask, logMessageTask);

export type Tasks = typeof tasks;
export type TaskName = keyof Tasks & string;
