import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { loadConfig } from "../../config/config.js";
import { checkAll, PgmillError } from "../../errors.js";
import { runCronNow } from "../../controls/cron-operator.js";
import { nextTicks, parseCrontabFile } from "../../crontab/parse-crontab.js";
import { formatInZone } from "../../status/cron-lines.js";
import { loadTasks } from "../../tasks/task-catalog.js";
import { parseArguments, positiveInt } from "../arguments.js";
import { printObject, printRows } from "../output.js";
import { commandConfig, withDatabase, withTasksOption } from "../with-database.js";

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
          schedule: entry.schedule,
          timezone: entry.timezone ?? "UTC",
          overlap: entry.overlap,
          next_runs: nextTicks(entry, now, count).map((d) => formatInZone(d, entry.timezone ?? "UTC", entry.everyMs !== null)),
        })),
        { json: options.json === true, empty: "crontab has no schedules" },
      );
    });

  cron
    .command("run")
    .description("enqueue a crontab line's job now, with its payload and options (the handler's job.cron.manual is true)")
    .argument("<id>", "the line's ?id= (as the daemons loaded it)")
    .option("--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)")
    .option("--json", "print JSON")
    .action(async (id: string, options: { json?: boolean; databaseUrl?: string }) => {
      await withDatabase(commandConfig(options), async ({ database }) => {
        printObject({ cron: id, job_id: await runCronNow(database.db, id) }, { json: options.json === true });
      });
    });
}
