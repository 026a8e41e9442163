import type { Command } from "commander";
import { z } from "zod";
import { RUN_STATUSES } from "../../db/schema.js";
import { checkAll } from "../../errors.js";
import { listHistory } from "../../history/history-queries.js";
import { bigintId, durationSeconds, parseArguments, positiveInt } from "../arguments.js";
import { printRows } from "../output.js";
import { commandConfig, withDatabase } from "../with-database.js";

const historyArguments = z.object({
  status: z.enum(RUN_STATUSES).optional(),
  since: durationSeconds.optional(),
  limit: positiveInt.max(10_000),
  job: bigintId.optional(),
});

export function registerHistory(program: Command): void {
  program
    .command("history")
    .description("attempts from pgmill.job_runs, newest first")
    .option("--task <name>", "only this task")
    .option("--status <status>", RUN_STATUSES.join(", "))
    .option("--since <duration>", "only the last 15m, 12h, 7d, ...")
    .option("--job <id>", "only this job's attempts")
    .option("--limit <n>", "at most this many", "50")
    .option("--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)")
    .option("--json", "print JSON")
    .action(async (options: Record<string, string | boolean | undefined>) => {
      const [args, config] = checkAll([
        () => parseArguments(historyArguments, options),
        () => commandConfig(options as { databaseUrl?: string }),
      ]);
      await withDatabase(config, async ({ database }) => {
        const rows = await listHistory(database.db, {
          task: options.task as string | undefined,
          status: args.status,
          since: args.since === undefined ? undefined : new Date(Date.now() - args.since * 1000),
          jobId: args.job,
          limit: args.limit,
        });
        printRows(rows, { json: options.json === true, empty: "no attempts recorded" });
      });
    });
}
