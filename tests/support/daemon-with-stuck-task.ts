// `pgmill run` with one more task, `stuck`, whose handler never settles and
// ignores its abort signal: what a forced shutdown must get past.
import { z } from "zod";
import { runDaemon } from "../../src/cli/commands/run.js";
import { loadConfig } from "../../src/config/config.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { tasks } from "../../src/tasks/index.js";

const stuck = defineTask({ name: "stuck", payload: z.object({}), handler: () => new Promise<void>(() => undefined) });

await runDaemon(loadConfig(), { ...tasks, ...taskRegistry(stuck) });
