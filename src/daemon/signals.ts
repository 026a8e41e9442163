import type { Logger } from "../logging/logger.js";
import type { ServedDaemon } from "./serve.js";

/**
 * SIGTERM/SIGINT: drain and exit 0; a second one forces (exit 1).
 * SIGHUP: reload the crontab.
 */
export function handleSignals(served: ServedDaemon, logger: Logger): void {
  let signalled = 0;
  const onStop = (signal: NodeJS.Signals) => {
    signalled++;
    if (signalled === 1) {
      logger.info({ signal }, "received signal; shutting down gracefully (send again to force)");
      served.shutdown().then(
        // A forced shutdown lets the drain finish early; it still exits 1.
        () => exit(signalled > 1 ? 1 : 0),
        (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          exit(1);
        },
      );
    } else if (signalled === 2) {
      logger.warn({ signal }, "received second signal; forcing shutdown");
      served.forceShutdown().finally(() => exit(1));
    }
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGHUP", () => {
    logger.info("received SIGHUP; reloading crontab");
    void served.daemon.reloadCrontab();
  });
  const exit = (code: number) => {
    logger.flush();
    process.exitCode = code;
    // Let pino's async destination drain, then leave even if a handler still hangs.
    setTimeout(() => process.exit(code), 200).unref();
  };
}
