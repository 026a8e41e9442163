import { Command } from "commander";
import { registerAdd } from "./commands/add.js";
import { registerCancel } from "./commands/cancel.js";
import { registerCron } from "./commands/cron.js";
import { addPauseCron, addResumeCron } from "./commands/cron-pause.js";
import { registerDashboard } from "./commands/dashboard.js";
import { registerDlq } from "./commands/dlq.js";
import { registerHistory } from "./commands/history.js";
import { registerMigrate } from "./commands/migrate.js";
import { registerPause } from "./commands/pause.js";
import { registerRun } from "./commands/run.js";
import { registerStatus } from "./commands/status.js";
import { VERSION } from "../version.js";

/**
 * The CLI. Usage errors (an unknown option, a missing value) go to
 * `usageErrors` instead of stderr, so main.ts can report them together with
 * any bad settings.
 */
export function buildProgram(usageErrors: { write(text: string): void } = process.stderr): Command {
  const program = new Command("pgmill")
    .description("Postgres-native job daemon: cron and background jobs with Postgres as the only infrastructure")
    .version(VERSION)
    .showHelpAfterError("(add --help for usage)")
    // Throw instead of exiting, so main.ts maps usage errors to exit 2. Set before
    // the commands are added: they inherit both when created.
    .exitOverride()
    .configureOutput({ writeErr: (text) => usageErrors.write(text) });
  for (const register of [registerRun, registerMigrate, registerAdd, registerCancel, registerCron, registerDlq, registerHistory, registerStatus, registerPause, registerDashboard]) {
    register(program);
  }
  // `pause` / `resume` parents may come from another command file; add ours beneath them.
  addPauseCron(parentCommand(program, "pause", "pause a task or a crontab line"));
  addResumeCron(parentCommand(program, "resume", "resume a paused task or crontab line"));
  program.hook("preSubcommand", rejectUnknownCommand);
  return program;
}

function parentCommand(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

/**
 * `run` is the default command, so commander hands it a mistyped command name
 * (`pgmill histroy`: "too many arguments for 'run'"). Say it is an unknown
 * command instead, with commander's own wording and did-you-mean.
 */
function rejectUnknownCommand(program: Command, subcommand: Command): void {
  const [first] = program.args;
  if (subcommand.name() !== "run" || first === undefined || first === "run" || first.startsWith("-")) return;
  // Public in commander's JavaScript, left out of its typings.
  (program as unknown as { unknownCommand(): never }).unknownCommand();
}
