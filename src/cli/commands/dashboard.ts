import type { Command } from "commander";
import { sql } from "kysely";
import { loadConfig } from "../../config/config.js";
import type { SettingName } from "../../config/schema.js";
import { startDashboardServer } from "../../dashboard/server.js";
import { resolveCommandDatabase } from "../../db/connect.js";
import { openDatabase } from "../../db/database.js";
import { PgmillError } from "../../errors.js";
import { createLogger } from "../../logging/logger.js";
import { loadTasks } from "../../tasks/task-catalog.js";
import { withTasksOption } from "../with-database.js";

/** This command's flags for settings, named beside the variable in problem reports. */
const DASHBOARD_FLAGS: Partial<Record<SettingName, string>> = {
  DATABASE_URL: "--database-url",
  PGMILL_DASHBOARD_PORT: "--port",
  PGMILL_DASHBOARD_HOST: "--host",
  PGMILL_CRONTAB: "--crontab",
  PGMILL_TASKS: "--tasks",
};

export function registerDashboard(program: Command): void {
  withTasksOption(program.command("dashboard"))
    .description("serve the web dashboard: jobs, history, dead letters, cron and daemons (read-only unless PGMILL_DASHBOARD_TOKEN is set)")
    .option("--port <port>", "port (default: PGMILL_DASHBOARD_PORT or 8081)")
    .option("--host <address>", "address to listen on (default: PGMILL_DASHBOARD_HOST or 127.0.0.1)")
    .option("--crontab <file>", "crontab whose lines the Cron page shows (default: PGMILL_CRONTAB or ./crontab)")
    .option("--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)")
    .action(async (options: { port?: string; host?: string; crontab?: string; databaseUrl?: string; tasks?: string }) => {
      const config = loadConfig(
        {
          DATABASE_URL: options.databaseUrl,
          PGMILL_DASHBOARD_PORT: options.port,
          PGMILL_DASHBOARD_HOST: options.host,
          PGMILL_CRONTAB: options.crontab,
          PGMILL_TASKS: options.tasks,
        },
        process.env,
        (name) => (DASHBOARD_FLAGS[name] ? `${name} (${DASHBOARD_FLAGS[name]})` : name),
      );
      const logger = createLogger(config.logLevel);
      const tasks = await loadTasks({ tasksDir: config.tasksDir });
      const { connectionString } = await resolveCommandDatabase(config);
      // A reader: it never migrates (DESIGN.md), so an unmigrated database is said plainly.
      const database = openDatabase(connectionString, {
        maxConnections: 4,
        applicationName: "pgmill-dashboard",
        onError: (error) => logger.warn({ err: error }, "dashboard database connection lost; the next request reconnects"),
      });
      try {
        const { rows } = await sql<{ ready: boolean }>`select to_regclass('pgmill.job_runs') is not null as ready`.execute(database.db);
        if (!rows[0]?.ready) throw new PgmillError("PGMILL_NO_DATABASE", "this database has no pgmill schema yet: run `pgmill migrate` (or start a daemon) first");
        const server = await startDashboardServer({
          db: database.db,
          logger,
          tasks,
          crontabPath: config.crontabPath,
          payloadMode: config.historyPayload,
          token: config.dashboardToken,
          host: config.dashboardHost,
          port: config.dashboardPort,
        });
        logger.info(
          { url: server.url, actions: config.dashboardToken ? "enabled (token set)" : "disabled (read-only)" },
          `dashboard listening on ${server.url}`,
        );
        await new Promise<void>((resolve) => {
          for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => resolve());
        });
        logger.info("dashboard stopping");
        await server.close();
      } finally {
        await database.close();
        logger.flush();
      }
    });
}
