import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig, type Config } from "../../src/config/config.js";
import type { SettingName } from "../../src/config/schema.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { serveDaemon } from "../../src/app/serve.js";
import type { Logger } from "../../src/logging/logger.js";
import type { AnyTask } from "../../src/tasks/define-task.js";
import { onFileCleanup } from "./file-cleanup.js";
import { captureLogs, type CapturedLogs } from "./log-capture.js";
import { freePort } from "./postgres-server.js";
import type { TestDatabase } from "./test-database.js";

export interface TestDaemon {
  readonly daemon: Daemon;
  readonly logs: CapturedLogs;
  readonly crontabPath: string;
}

/**
 * A real Daemon in this process, on the file's test database, with its logs
 * captured. Settings come only from `settings` (never this process's env).
 */
export async function startTestDaemon(
  database: TestDatabase,
  tasks: Readonly<Record<string, AnyTask>>,
  options: TestDaemonOptions = {},
): Promise<TestDaemon> {
  const { started, logs, crontabPath } = await launch(database, options, (config, logger) => Daemon.start(config, logger, tasks));
  return { daemon: started, logs, crontabPath };
}

export interface ServedTestDaemon extends TestDaemon {
  /** The probe server's base URL (/livez, /readyz, /metrics). */
  readonly baseUrl: string;
}

/** Like startTestDaemon, with the probe and metrics server on a free port. */
export async function serveTestDaemon(
  database: TestDatabase,
  tasks: Readonly<Record<string, AnyTask>>,
  options: TestDaemonOptions = {},
): Promise<ServedTestDaemon> {
  const port = await freePort();
  const settings = { PGMILL_HTTP_PORT: String(port), ...options.settings };
  const { started, logs, crontabPath } = await launch(database, { ...options, settings }, (config, logger) =>
    serveDaemon(config, logger, tasks),
  );
  return { daemon: started.daemon, logs, crontabPath, baseUrl: `http://127.0.0.1:${port}` };
}

interface TestDaemonOptions {
  readonly crontab?: string;
  /** Another way to the file's database (say, through a proxy); the database's own URL by default. */
  readonly databaseUrl?: string;
  readonly settings?: Partial<Record<SettingName, string>>;
}

/** Writes the crontab, builds the config, starts with captured logs, and shuts down after the file. */
async function launch<T extends { shutdown(): Promise<void> }>(
  database: TestDatabase,
  options: TestDaemonOptions,
  start: (config: Config, logger: Logger) => Promise<T>,
): Promise<{ started: T; logs: CapturedLogs; crontabPath: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-daemon-"));
  const crontabPath = path.join(dir, "crontab");
  await writeFile(crontabPath, options.crontab ?? "");
  const config = loadConfig(
    { DATABASE_URL: options.databaseUrl ?? database.url, PGMILL_CRONTAB: crontabPath, PGMILL_CONCURRENCY: "4", ...options.settings },
    {},
  );
  const logs = captureLogs();
  const started = await start(config, logs.logger);
  onFileCleanup(() => started.shutdown());
  return { started, logs, crontabPath };
}
