import type { Command } from "commander";
import { loadConfig, type Config } from "../../config/config.js";
import { SETTING_FLAGS, optionKey, type FlagSetting } from "../../config/flags.js";
import { serveDaemon } from "../../daemon/serve.js";
import { handleSignals } from "../../daemon/signals.js";
import { createLogger } from "../../logging/logger.js";
import type { AnyTask } from "../../tasks/define-task.js";
import { tasks } from "../../tasks/index.js";

export function registerRun(program: Command): void {
  const command = program
    .command("run", { isDefault: true })
    .description("run the daemon: crontab, worker pool, history and dead letters (the default command)");
  for (const { flag, help } of Object.values(SETTING_FLAGS)) command.option(flag, help);
  command.action(async (options: Record<string, string | undefined>) => {
    const overrides = Object.fromEntries(
      (Object.keys(SETTING_FLAGS) as FlagSetting[]).map((setting) => [setting, options[optionKey(setting)]]),
    );
    await runDaemon(loadConfig(overrides), tasks);
  });
}

/** Serves the daemon until a signal stops it; signals are handled from before start-up on. */
export async function runDaemon(config: Config, taskList: Readonly<Record<string, AnyTask>>): Promise<void> {
  const logger = createLogger(config.logLevel);
  const starting = serveDaemon(config, logger, taskList);
  handleSignals(starting, logger);
  await starting;
}
