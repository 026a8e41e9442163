import type { SettingName } from "./schema.js";

/** Command-line flags that override a setting, with the help text shown for them. */
export const SETTING_FLAGS = {
  DATABASE_URL: { flag: "--database-url <url>", help: "Postgres connection string (default: embedded Postgres)" },
  PGMILL_DIRECT_URL: {
    flag: "--direct-url <url>",
    help: "direct (or session-mode) connection for LISTEN, locks, migrations and the heartbeat, when --database-url is a transaction pooler",
  },
  PGMILL_CONCURRENCY: { flag: "--concurrency <n>", help: "jobs run at once by this daemon" },
  PGMILL_DB_POOL_SIZE: { flag: "--db-pool-size <n>", help: "connections this daemon may open (default 10)" },
  PGMILL_CRONTAB: { flag: "--crontab <file>", help: "crontab file (default ./crontab)" },
  PGMILL_TASKS: { flag: "--tasks <dir>", help: "directory of your task files (.ts, .mts, .js, .mjs), run beside the built-in tasks" },
  PGMILL_HTTP_PORT: { flag: "--http-port <port>", help: "port for probes and metrics (default 8080)" },
  PGMILL_SHUTDOWN_TIMEOUT: { flag: "--shutdown-timeout <seconds>", help: "drain budget on SIGTERM (default 30)" },
  LOG_LEVEL: { flag: "--log-level <level>", help: "fatal, error, warn, info, debug, trace or silent" },
} as const satisfies Partial<Record<SettingName, { flag: string; help: string }>>;

export type FlagSetting = keyof typeof SETTING_FLAGS;

export function flagFor(name: SettingName): string | undefined {
  const entry = (SETTING_FLAGS as Partial<Record<SettingName, { flag: string }>>)[name];
  return entry?.flag.split(" ")[0];
}

/** commander's camelCase option key for a flag, e.g. `--http-port` -> `httpPort`. */
export function optionKey(setting: FlagSetting): string {
  return SETTING_FLAGS[setting].flag
    .split(" ")[0]!
    .slice(2)
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
