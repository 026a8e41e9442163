import path from "node:path";
import type { Command } from "commander";
import { cancelsInProgress } from "../../controls/cancel-queries.js";
import { cronLineStatus } from "../../controls/cron-lines.js";
import { jobsByTaskAndState, runningJobs } from "../../engine/job-reads.js";
import { readCronLines } from "../../status/cron-lines.js";
import { daemons, pendingDeadLettersByTask } from "../../status/status-queries.js";
import { pausedTasks } from "../../controls/pause-queries.js";
import { limitedTaskStatus } from "../../controls/task-limit-queries.js";
import { loadTasks, type TaskCatalog } from "../../tasks/task-catalog.js";
import { printRows } from "../output.js";
import { commandConfig, withDatabase, withTasksOption } from "../with-database.js";

export function registerStatus(program: Command): void {
  withTasksOption(program.command("status"))
    .description("daemons, jobs by task and state, running jobs, cancels in progress, dead letters, next cron fires")
    .option("--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)")
    .option("--json", "print JSON")
    .action(async (options: { databaseUrl?: string; json?: boolean; tasks?: string }) => {
      const config = commandConfig(options);
      const tasks = await loadTasks({ tasksDir: config.tasksDir });
      await withDatabase(config, async ({ database }) => {
        const [daemonRows, jobs, running, cancels, deadLetters, cron, paused, cronLines] = await Promise.all([
          daemons(database.db),
          jobsByTaskAndState(database.db, Object.keys(tasks)),
          runningJobs(database.db),
          cancelsInProgress(database.db),
          pendingDeadLettersByTask(database.db),
          nextCronFires(config.crontabPath, tasks),
          pausedTasks(database.db),
          cronLineStatus(database.db),
        ]);
        const limits = await limitedTaskStatus(database.db, Object.values(tasks));
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ daemons: daemonRows, jobs, running, cancels, deadLetters, cron, paused, cronLines, limits }, null, 2)}\n`);
          return;
        }
        for (const [title, rows, empty] of [
          ["Daemons (last 24 hours)", daemonRows, "no daemons seen"],
          ["Jobs by task and state", jobs, "no jobs queued"],
          ["Running (locked) jobs", running, "nothing running"],
          ["Cancels in progress (pgmill cancel)", cancels, "no cancels in progress"],
          ["Paused tasks", paused, "no task paused"],
          ["Dead letters (pending retry)", deadLetters, "no dead letters"],
          [`Next cron fires (${path.basename(config.crontabPath)})`, cron, "no schedules"],
          ["Crontab lines (as the daemons loaded them)", cronLines.map(showPaused), "no crontab lines published by a daemon"],
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

/** A published crontab line as a table row: `paused` reads `since …` or `no` at a glance. */
function showPaused(line: Awaited<ReturnType<typeof cronLineStatus>>[number]) {
  const { id, schedule, timezone, task, overlap, paused_since, last_run, next_run, last_run_by_hand } = line;
  const paused = paused_since ? `since ${paused_since.toISOString()}` : "no";
  return { id, schedule, timezone: timezone ?? "UTC", task, overlap, paused, last_run, next_run, last_run_by_hand };
}

async function nextCronFires(file: string, tasks: TaskCatalog) {
  const { lines, problems } = await readCronLines(file, tasks, 1);
  if (problems.length) return problems.map((problem) => ({ problem }));
  return lines.map((line) => ({ id: line.id, task: line.task, timezone: line.timezone, next_fire: line.nextRuns[0] ?? null }));
}
