import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { parseCrontabFile } from "../../crontab/parse-crontab.js";
import { PgmillProblemsError } from "../../errors.js";
import { nextRuns } from "../../crontab/schedule-matcher.js";
import { jobsByTaskAndState, runningJobs } from "../../engine/job-reads.js";
import { daemons, pendingDeadLettersByTask } from "../../status/status-queries.js";
import { pausedTasks } from "../../controls/pause-queries.js";
import { limitedTaskStatus } from "../../controls/task-limit-queries.js";
import { loadTasks, type TaskCatalog } from "../../tasks/task-catalog.js";
import { printRows } from "../output.js";
import { commandConfig, withDatabase, withTasksOption } from "../with-database.js";

export function registerStatus(program: Command): void {
  withTasksOption(program.command("status"))
    .description("daemons, jobs by task and state, running jobs, dead letters, next cron fires")
    .option("--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)")
    .option("--json", "print JSON")
    .action(async (options: { databaseUrl?: string; json?: boolean; tasks?: string }) => {
      const config = commandConfig(options);
      const tasks = await loadTasks({ tasksDir: config.tasksDir });
      await withDatabase(config, async ({ database }) => {
        const [daemonRows, jobs, running, deadLetters, cron, paused] = await Promise.all([
          daemons(database.db),
          jobsByTaskAndState(database.db, Object.keys(tasks)),
          runningJobs(database.db),
          pendingDeadLettersByTask(database.db),
          nextCronFires(config.crontabPath, tasks),
          pausedTasks(database.db),
        ]);
        const limits = await limitedTaskStatus(database.db, Object.values(tasks));
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ daemons: daemonRows, jobs, running, deadLetters, cron, paused, limits }, null, 2)}\n`);
          return;
        }
        for (const [title, rows, empty] of [
          ["Daemons (last 24 hours)", daemonRows, "no daemons seen"],
          ["Jobs by task and state", jobs, "no jobs queued"],
          ["Running (locked) jobs", running, "nothing running"],
          ["Paused tasks", paused, "no task paused"],
          ["Dead letters (pending retry)", deadLetters, "no dead letters"],
          [`Next cron fires (${path.basename(config.crontabPath)})`, cron, "no schedules"],
        ] as const) {
          process.stdout.write(`\n${title}\n`);
          printRows(rows, { json: false, empty });
        }
        // Only when some task has a limit: most deployments have none, and the section would say so every time.
        if (limits.length) {
          process.stdout.write("\nLimited tasks (cluster-wide)\n");
          printRows(limits, { json: false, empty: "" });
        }
        const unhandled = jobs.filter((row) => row.state === "no handler");
        if (unhandled.length) {
          process.stdout.write("\nJobs no daemon will run (no task by that name among the built-in tasks and the tasks directory)\n");
          for (const { task, jobs: n } of unhandled) process.stdout.write(`no handler: ${n} job${n === "1" ? "" : "s"} of task '${task}'\n`);
        }
      });
    });
}

async function nextCronFires(file: string, tasks: TaskCatalog) {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return [];
  }
  const now = Date.now();
  try {
    return parseCrontabFile(text, tasks, path.basename(file)).map((entry) => ({
      id: entry.identifier,
      task: entry.task,
      timezone: entry.timezone ?? "UTC",
      next_fire: nextRuns(entry.matchesAt, now, 1)[0] ?? null,
    }));
  } catch (error) {
    // Status is for looking at a system in trouble: show the crontab's problems, not nothing.
    if (error instanceof PgmillProblemsError) return error.problems.map((problem) => ({ problem }));
    throw error;
  }
}
