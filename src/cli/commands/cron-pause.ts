import type { Command } from "commander";
import { pauseCron, resumeCron } from "../../controls/cron-operator.js";
import { printObject } from "../output.js";
import { commandConfig, withDatabase } from "../with-database.js";

// `pgmill pause cron ID` / `pgmill resume cron ID`: subcommands of the
// `pause` and `resume` parents (which also hold `task`).

const DB_FLAG = ["--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)"] as const;

export function addPauseCron(pause: Command): void {
  pause
    .command("cron")
    .description("pause a crontab line: its ticks are not enqueued, nor backfilled after resume")
    .argument("<id>", "the line's ?id= (see `pgmill status`)")
    .option(...DB_FLAG)
    .option("--json", "print JSON")
    .action(async (id: string, options: { json?: boolean; databaseUrl?: string }) => {
      await withDatabase(commandConfig(options), async ({ database }) => {
        printObject({ cron: id, paused_since: await pauseCron(database.db, id) }, { json: options.json === true });
      });
    });
}

export function addResumeCron(resume: Command): void {
  resume
    .command("cron")
    .description("resume a paused crontab line from its next tick")
    .argument("<id>", "the line's ?id=")
    .option(...DB_FLAG)
    .option("--json", "print JSON")
    .action(async (id: string, options: { json?: boolean; databaseUrl?: string }) => {
      await withDatabase(commandConfig(options), async ({ database }) => {
        const resumed = await resumeCron(database.db, id);
        printObject({ cron: id, resumed, ...(resumed ? {} : { note: "it was not paused" }) }, { json: options.json === true });
      });
    });
}
