import { openEngineUtils } from "../engine/worker-utils.js";
import type { AnyTask, TaskRegistry } from "../tasks/define-task.js";
import type { BuiltInTasks } from "../tasks/index.js";
import { loadTasks } from "../tasks/task-catalog.js";
import { makeAddJob, type AddJob } from "./add-job.js";

export interface PgmillClient<Tasks extends Readonly<Record<string, AnyTask>>> {
  /** Enqueues a job of one of the given tasks (or a built-in one), payload typed and validated first. */
  readonly addJob: AddJob<Tasks>;
  /** Closes the client's connections. */
  close(): Promise<void>;
}

/**
 * For applications that enqueue: `const { addJob } = await createClient({ connectionString, tasks: [sendReminder] })`.
 * The same task definitions the daemon runs give `addJob` its types and checks.
 */
export async function createClient<const Tasks extends readonly AnyTask[] = []>(options: {
  connectionString: string;
  tasks?: Tasks;
}): Promise<PgmillClient<TaskRegistry<Tasks> & BuiltInTasks>> {
  const tasks = await loadTasks({ tasksDir: null, tasks: options.tasks ?? [] });
  const utils = await openEngineUtils({ connectionString: options.connectionString });
  return {
    addJob: makeAddJob(utils, tasks as TaskRegistry<Tasks> & BuiltInTasks),
    close: async () => void (await utils.release()),
  };
}
