import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { loadConfig } from "../../config/config.js";
import { checkAll, PgmillError } from "../../errors.js";
import { parseCrontabFile } from "../../crontab/parse-crontab.js";
import { nextRuns } from "../../crontab/schedule-matcher.js";
import { formatInZone } from "../../status/cron-lines.js";
import { loadTasks } from "../../tasks/task-catalog.js";
import { parseArguments, positiveInt } from "../arguments.js";
import { printRows } from "../output.js";
import { withTasksOption } from "../with-database.js";

export function registerCron(program: Command): void {
  const cron = program.command("cron").description("crontab tools");
  withTasksOption(cron.command("check"))
    .description("validate a crontab and print each line's next runs, in its timezone")
    .argument("[file]", "crontab file (default: PGMILL_CRONTAB or ./crontab)")
    .option("--count <n>", "how many next runs to show per line", "3")
    .option("--json", "print JSON")
    .action(async (file: string | undefined, options: { count: string; json?: boolean; tasks?: string }) => {
      const [{ count }, config] = checkAll([
        () => parseArguments(z.object({ count: positiveInt.max(100) }), options),
        () => loadConfig({ PGMILL_TASKS: options.tasks }),
      ]);
      const crontabPath = file ? path.resolve(file) : config.crontabPath;
      const tasks = await loadTasks({ tasksDir: config.tasksDir });
      const text = await readFile(crontabPath, "utf8").catch((error: NodeJS.ErrnoException) => {
        throw new PgmillError("PGMILL_NOT_FOUND", `cannot read crontab ${crontabPath}: ${error.code ?? error.message}`);
      });
      const entries = parseCrontabFile(text, tasks, path.basename(crontabPath));
      const now = Date.now();
      printRows(
        entries.map((entry) => ({
          line: entry.line,
          id: entry.identifier,
          task: entry.task,
          timezone: entry.timezone ?? "UTC",
          next_runs: nextRuns(entry.matchesAt, now, count).map((d) => formatInZone(d, entry.timezone ?? "UTC")),
        })),
        { json: options.json === true, empty: "crontab has no schedules" },
      );
    });
}
