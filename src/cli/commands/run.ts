import type { Command } from "commander";
import { loadConfig } from "../../config/config.js";
import { SETTING_FLAGS, optionKey, type FlagSetting } from "../../config/flags.js";
import { serveDaemon } from "../../daemon/serve.js";
import { handleSignals } from "../../daemon/signals.js";
import { createLogger } from "../../logging/logger.js";
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
    const config = loadConfig(overrides);
    const logger = createLogger(config.logLevel);
    const served = await serveDaemon(config, logger, tasks);
    handleSignals(served, logger);
  });
}
