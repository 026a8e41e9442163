import type { Command } from "commander";
import { serveDaemon } from "../../app/serve.js";
import { handleSignals } from "../../app/signals.js";
import { loadConfig } from "../../config/config.js";
import { SETTING_FLAGS, optionKey, type FlagSetting } from "../../config/flags.js";
import { createLogger } from "../../logging/logger.js";
import { loadTasks } from "../../tasks/task-catalog.js";

export function registerRun(program: Command): void {
  const command = program
    .command("run", { isDefault: true })
    .description("run the daemon: crontab, worker pool, history and dead letters (the default command)");
  for (const { flag, help } of Object.values(SETTING_FLAGS)) command.option(flag, help);
  command.action(async (options: Record<string, string | undefined>) => {
    const overrides = Object.fromEntries(
      (Object.keys(SETTING_FLAGS) as FlagSetting[]).map((setting) => [setting, options[optionKey(setting)]]),
    );
    const config = loadConfig(overrides);
    const tasks = await loadTasks({ tasksDir: config.tasksDir });
    const logger = createLogger(config.logLevel);
    logger.info({ tasks: Object.keys(tasks).sort(), tasksDir: config.tasksDir }, "tasks loaded");
    // Signals are handled from before start-up on: a Ctrl-C during migrations still stops cleanly.
    const starting = serveDaemon(config, logger, tasks);
    handleSignals(starting, logger);
    await starting;
  });
}
