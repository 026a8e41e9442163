import type { Command } from "commander";
import { loadConfig, type Config } from "../config/config.js";
import { SETTING_FLAGS } from "../config/flags.js";
import { resolveCommandDatabase } from "../db/connect.js";
import { openDatabase, type DatabaseHandle } from "../db/database.js";
import { migrateDatabase } from "../db/migrate.js";
import { refuseTransactionPooling } from "../db/transaction-pooler.js";
import { createLogger, type Logger } from "../logging/logger.js";

/** A one-shot command's settings: the environment's, with its --database-url, --direct-url and --tasks on top. */
export function commandConfig(flags: { databaseUrl?: string; directUrl?: string; tasks?: string }): Config {
  return loadConfig({ DATABASE_URL: flags.databaseUrl, PGMILL_DIRECT_URL: flags.directUrl, PGMILL_TASKS: flags.tasks });
}

/** For commands that know tasks (add, status, cron check): `--tasks <dir>`, as `pgmill run` takes it. */
export function withTasksOption(command: Command): Command {
  return command.option(SETTING_FLAGS.PGMILL_TASKS.flag, `${SETTING_FLAGS.PGMILL_TASKS.help} (default: PGMILL_TASKS)`);
}

export interface CommandContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly database: DatabaseHandle;
  readonly connectionString: string;
}

/**
 * Runs a one-shot command against the configured database (or, with no
 * DATABASE_URL, the embedded one of the daemon running on the data dir),
 * migrated, then closes it. Logs go to stderr so stdout stays the command's output.
 */
export async function withDatabase<T>(config: Config, body: (context: CommandContext) => Promise<T>): Promise<T> {
  const logger = createLogger(config.logLevel === "info" ? "warn" : config.logLevel, process.stderr);
  const urls = await resolveCommandDatabase(config);
  const { connectionString } = urls;
  await refuseTransactionPooling(urls);
  await migrateDatabase(urls.sessionConnectionString, logger);
  const database = openDatabase(connectionString, { maxConnections: 4, applicationName: "pgmill-cli" });
  try {
    return await body({ config, logger, database, connectionString });
  } finally {
    await database.close();
  }
}
