import type { Logger } from "../logging/logger.js";

const RETURN_FAILED = "Error occurred whilst returning jobs from local queue to database queue";

/**
 * graphile-worker 0.18 returns a stopped pool's local-queue jobs in a promise
 * nobody awaits once the queue is released; when that fails (the database
 * connection is cut, say) the rejection is unhandled and Node ends the
 * process, so one terminated connection could kill the daemon. Those jobs
 * stay locked by the stopped pool, whose lock ids the daemon releases itself
 * (the reaper, or shutdown), so this rejection is logged, not fatal. Any other
 * unhandled rejection keeps Node's default, a crash, unless the application
 * has a handler of its own. No upstream issue yet; guard:
 * tests/engine/engine-rejections.test.ts and the chaos scenario terminate-backends.
 */
export function absorbEngineRejections(logger: Logger): () => void {
  const listener = (reason: unknown) => {
    if (reason instanceof Error && reason.message.startsWith(RETURN_FAILED)) {
      logger.error({ err: reason }, "graphile-worker could not return a stopped pool's local queue; pgmill releases those jobs itself");
      return;
    }
    // A listener turns Node's crash off; throwing from it turns it back on.
    if (process.listenerCount("unhandledRejection") === 1) throw reason;
  };
  process.on("unhandledRejection", listener);
  return () => process.off("unhandledRejection", listener);
}
