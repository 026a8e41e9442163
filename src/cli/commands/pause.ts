import type { Command } from "commander";
import { pauseTask, resumeTask } from "../../controls/pause-queries.js";
import { PgmillError } from "../../errors.js";
import { printObject } from "../output.js";
import { commandConfig, withDatabase } from "../with-database.js";

const DB_FLAG = ["--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)"] as const;

/**
 * The `pause` and `resume` parents, created on first use: each control adds
 * its own subcommand (`pause task NAME` here, `pause cron ID` elsewhere)
 * without knowing the others.
 */
export function pauseParents(program: Command): { pause: Command; resume: Command } {
  const find = (name: string, description: string) =>
    program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
  return {
    pause: find("pause", "pause something on every daemon (see its subcommands)"),
    resume: find("resume", "resume what `pgmill pause` paused"),
  };
}

export function registerPause(program: Command): void {
  const { pause, resume } = pauseParents(program);
  for (const [parent, verb, apply] of [
    [pause, "pause", pauseTask],
    [resume, "resume", resumeTask],
  ] as const) {
    parent
      .command("task")
      .description(
        verb === "pause"
          ? "no daemon starts a new attempt of TASK (within a second); running attempts finish, queued jobs are held unspent"
          : "daemons run TASK again; its held jobs go back to their run_at",
      )
      .argument("<task>", "task name")
      .option(...DB_FLAG)
      .option("--json", "print JSON")
      .action(async (task: string, options: { json?: boolean; databaseUrl?: string }) => {
        if (!task.trim()) throw new PgmillError("PGMILL_INVALID_CONFIG", `${verb} task: <task>: a task name is required`);
        const config = commandConfig(options);
        await withDatabase(config, async ({ database }) => {
          const changed = await apply(database.db, task);
          const state = verb === "pause" ? "paused" : "running";
          printObject({ task, [state]: true, changed, ...(changed ? {} : { note: `already ${state}` }) }, { json: options.json === true });
        });
      });
  }
}
