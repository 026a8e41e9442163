import type { Logger } from "../logging/logger.js";
import type { ServedDaemon } from "./serve.js";

/** SIGHUP is a closed terminal: a foreground process stops with it, or it outlives the terminal holding its ports. */
const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
/** After a second signal the process is gone within this long, whatever is still running. */
const FORCE_EXIT_MS = 3_000;
/** Lets pino's async destination drain before exiting. */
const FLUSH_MS = 200;

/**
 * SIGTERM, SIGINT (Ctrl-C) and SIGHUP: drain and exit 0. A second signal
 * forces: running handlers are aborted and their jobs recorded and released,
 * then the process exits 1, within FORCE_EXIT_MS even if something hangs (an
 * embedded Postgres is still sent its stop signal on the way out). A third
 * exits at once. Installed before start-up: a signal then takes effect as soon
 * as the daemon is up, and a second one exits whatever start-up is doing.
 */
export function handleSignals(starting: Promise<ServedDaemon>, logger: Logger): void {
  let signalled = 0;
  const exit = (code: number) => {
    logger.flush();
    // A second signal during the flush still makes it 1.
    process.exitCode = signalled > 1 ? 1 : code;
    setTimeout(() => process.exit(process.exitCode), FLUSH_MS).unref();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signalled++;
    if (signalled === 1) {
      logger.info({ signal }, "received signal; shutting down gracefully (send again to force)");
      starting.then(
        (served) =>
          served.shutdown().then(
            // A forced shutdown lets the drain finish early; it still exits 1.
            () => exit(signalled > 1 ? 1 : 0),
            (error: unknown) => {
              logger.error({ err: error }, "shutdown failed");
              exit(1);
            },
          ),
        // Start-up failed: the command reports why and sets the exit code.
        () => undefined,
      );
    } else if (signalled === 2) {
      logger.warn({ signal, exitWithinMs: FORCE_EXIT_MS }, "received second signal; forcing shutdown");
      process.exitCode = 1;
      setTimeout(() => process.exit(1), FORCE_EXIT_MS).unref();
      starting.then(
        (served) =>
          served.forceShutdown().then(
            () => exit(1),
            (error: unknown) => {
              logger.error({ err: error }, "forced shutdown failed");
              exit(1);
            },
          ),
        () => undefined,
      );
    } else {
      process.exit(1);
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
}
