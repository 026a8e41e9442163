import type { Config } from "../config/config.js";
import { createDaemonEvents } from "../daemon/daemon-events.js";
import { Daemon } from "../daemon/daemon.js";
import { Health } from "../health/health.js";
import { startProbeServer, type ProbeServer } from "../http/probe-server.js";
import type { Logger } from "../logging/logger.js";
import { PgmillMetrics } from "../metrics/metrics.js";
import { CachedSnapshot, readQueueSnapshot } from "../metrics/queue-snapshot.js";
import type { TaskCatalog } from "../tasks/task-catalog.js";

/** Queue gauges hit the database at most this often per replica, however often it is scraped. */
const QUEUE_SNAPSHOT_TTL_MS = 5_000;

export interface ServedDaemon {
  readonly daemon: Daemon;
  /** Null when the daemon runs without one (a library user's own process). */
  readonly server: ProbeServer | null;
  /** Graceful shutdown, then the probe server. */
  shutdown(): Promise<void>;
  forceShutdown(): Promise<void>;
}

/**
 * A daemon with its probe and metrics server. The server comes up first, so
 * Kubernetes sees 503 from /readyz through start-up (migrations, first
 * connection) and from the first signal on; it goes down last.
 */
export async function serveDaemon(
  config: Config,
  logger: Logger,
  tasks: TaskCatalog,
  options: { probeServer: boolean } = { probeServer: true },
): Promise<ServedDaemon> {
  const events = createDaemonEvents();
  const health = new Health(events, { heartbeatIntervalMs: config.heartbeatIntervalMs });
  const metrics = new PgmillMetrics(events, { tasks: Object.keys(tasks), concurrency: config.concurrency });
  const server = options.probeServer ? await startProbeServer({ port: config.httpPort, health, metrics, logger }) : null;
  const closeServer = async () => {
    await server?.close();
    health.close();
  };
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(config, logger, tasks, events);
  } catch (error) {
    await closeServer();
    throw error;
  }
  metrics.usePoolWaiting(() => daemon.database.pool.waitingCount);
  metrics.useSnapshot(new CachedSnapshot(() => readQueueSnapshot(daemon.database.db, config.deadAfterMs), QUEUE_SNAPSHOT_TTL_MS));
  return {
    daemon,
    server,
    shutdown: () => daemon.shutdown().finally(closeServer),
    forceShutdown: () => daemon.forceShutdown().finally(closeServer),
  };
}
