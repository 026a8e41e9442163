import { loadConfig } from "../config/config.js";
import { describeOption, settingsFromOptions, type SettingOptions } from "../config/options.js";
import { createLogger, type Logger } from "../logging/logger.js";
import type { AnyTask } from "../tasks/define-task.js";
import { loadTasks } from "../tasks/task-catalog.js";
import { serveDaemon } from "./serve.js";

export interface RunDaemonOptions extends SettingOptions {
  /** Your tasks, run beside the built-in ones (and those of `tasksDir`, if given). */
  readonly tasks?: readonly AnyTask[];
  /** Serve /livez, /readyz and /metrics on `httpPort` (default false: your process may have its own server). */
  readonly probeServer?: boolean;
  /** A pino logger of yours; by default pgmill's own (NDJSON on stdout at `logLevel`). */
  readonly logger?: Logger;
}

export interface DaemonHandle {
  readonly daemonId: string;
  /** The probe server's port, or null without one. */
  readonly probePort: number | null;
  /** Drains as SIGTERM does: stops cron and fetching, lets running jobs finish within the drain budget, releases the rest. */
  stop(): Promise<void>;
}

/**
 * Runs a pgmill daemon inside your own process. Settings not given here come
 * from the environment, as for `pgmill run`; all problems are reported at
 * once. It installs no signal handlers: call `stop()` from yours.
 */
export async function runDaemon(options: RunDaemonOptions = {}): Promise<DaemonHandle> {
  const { tasks: given, probeServer = false, logger: userLogger, ...settings } = options;
  const config = loadConfig(settingsFromOptions(settings), undefined, describeOption);
  const tasks = await loadTasks({ tasksDir: config.tasksDir, tasks: given ?? [] });
  const logger = userLogger ?? createLogger(config.logLevel);
  const served = await serveDaemon(config, logger, tasks, { probeServer });
  return {
    daemonId: served.daemon.id,
    probePort: served.server?.port ?? null,
    stop: () => served.shutdown(),
  };
}
