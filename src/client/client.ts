import { openEngineUtils, type EngineUtils } from "../engine/worker-utils.js";
import { tasks as defaultTasks } from "../tasks/index.js";
import type { AnyTask } from "../tasks/define-task.js";
import { makeAddJob, type AddJob } from "./add-job.js";

export interface PgmillClient<Tasks extends Readonly<Record<string, AnyTask>>> {
  readonly addJob: AddJob<Tasks>;
  readonly utils: EngineUtils;
  release(): Promise<void>;
}

/** For applications that enqueue jobs: `const { addJob } = await createClient({ connectionString })`. */
export async function createClient<Tasks extends Readonly<Record<string, AnyTask>> = typeof defaultTasks>(options: {
  connectionString: string;
  tasks?: Tasks;
}): Promise<PgmillClient<Tasks>> {
  const utils = await openEngineUtils(options.connectionString);
  const tasks = (options.tasks ?? defaultTasks) as Tasks;
  return { addJob: makeAddJob(utils, tasks), utils, release: async () => void (await utils.release()) };
}
