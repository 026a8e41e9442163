import type { Command } from "commander";
import { JOB_LIMITS } from "../../engine/job-limits.js";
import { openEngineUtils } from "../../engine/worker-utils.js";
import { z } from "zod";
import { makeAddJob } from "../../client/add-job.js";
import { checkAll } from "../../errors.js";
import { loadTasks } from "../../tasks/task-catalog.js";
import { parseArguments, positiveInt, smallint } from "../arguments.js";
import { printObject } from "../output.js";
import { commandConfig, withDatabase, withTasksOption } from "../with-database.js";

const addArguments = z.object({
  payload: z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      ctx.addIssue({ code: "custom", message: `not valid JSON: ${(error as Error).message}` });
      return z.NEVER;
    }
  }),
  runAt: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s))
    .optional(),
  priority: smallint.optional(),
  maxAttempts: positiveInt.max(JOB_LIMITS.smallintMax).optional(),
  key: z.string().min(1).optional(),
  queue: z.string().min(1).max(JOB_LIMITS.queueNameLength).optional(),
});

export function registerAdd(program: Command): void {
  withTasksOption(program.command("add"))
    .description("enqueue a job, validating its payload against the task's schema")
    .argument("<task>", "task name")
    .argument("[json]", "payload as JSON", "{}")
    .option("--run-at <iso-time>", "run at this time (ISO 8601 with offset), not now")
    .option("--priority <n>", "lower runs sooner (default 0)")
    .option("--max-attempts <n>", "attempts before dead letters (default: the task's)")
    .option("--key <job-key>", "job key: replaces a pending job with the same key")
    .option("--queue <name>", "named queue: its jobs run one at a time, in order")
    .option("--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)")
    .option("--json", "print JSON")
    .action(async (task: string, json: string, options: Record<string, string | boolean | undefined>) => {
      const [args, config] = checkAll([
        () => parseArguments(addArguments, { ...options, payload: json }, { payload: "[json]" }),
        () => commandConfig(options as { databaseUrl?: string; tasks?: string }),
      ]);
      const tasks = await loadTasks({ tasksDir: config.tasksDir });
      await withDatabase(config, async ({ connectionString }) => {
        const utils = await openEngineUtils({ connectionString });
        try {
          const job = await makeAddJob(utils, tasks)(task as never, args.payload as never, {
            runAt: args.runAt,
            priority: args.priority,
            maxAttempts: args.maxAttempts,
            jobKey: args.key,
            queue: args.queue,
          });
          printObject(
            { id: job.id, task: job.task, run_at: job.runAt, max_attempts: job.maxAttempts, key: job.key },
            { json: options.json === true },
          );
        } finally {
          await utils.release();
        }
      });
    });
}
