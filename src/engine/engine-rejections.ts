import type { Logger } from "../logging/logger.js";

const RETURN_FAILED = "Error occurred whilst returning jobs from local queue to database queue";
const DOUBLE_RELEASE = "Release called on client which has already been released to the pool.";
const FROM_ENGINE = /[\\/]graphile-worker[\\/]/;

/**
 * graphile-worker 0.18 returns a stopped pool's local-queue jobs in a promise
 * nobody awaits once the queue is released; when that fails (the database
 * connection is cut, say) the rejection is unhandled and Node ends the
 * process, so one terminated connection could kill the daemon. Those jobs
 * stay locked by the stopped pool, whose lock ids the daemon releases itself
 * (the reaper, or shutdown), so this rejection is logged, not fatal. Any other
 * unhandled rejection keeps Node's default, a crash, unless the application
 * has a handler of its own.
 *
 * Likewise its LISTEN client: when that connection is cut, graphile-worker
 * releases the client from an async function it does not await, and a second
 * release (pg-pool refuses it, harmlessly) rejects unhandled; it reconnects
 * on its own either way. Seen in the full terminate-backends chaos scenario.
 *
 * No upstream issues yet; guard: tests/engine/engine-rejections.test.ts and
 * the chaos scenario terminate-backends.
 */
export function absorbEngineRejections(logger: Logger): () => void {
  const listener = (reason: unknown) => {
    if (reason instanceof Error && reason.message.startsWith(RETURN_FAILED)) {
      logger.error({ err: reason }, "graphile-worker could not return a stopped pool's local queue; pgmill releases those jobs itself");
      return;
    }
    if (reason instanceof Error && reason.message === DOUBLE_RELEASE && FROM_ENGINE.test(String(reason.stack))) {
      logger.warn({ err: reason }, "graphile-worker released its LISTEN client twice after the connection dropped; it reconnects by itself");
      return;
    }
    // A listener turns Node's crash off; throwing from it turns it back on.
    if (process.listenerCount("unhandledRejection") === 1) throw reason;
  };
  process.on("unhandledRejection", listener);
  return () => process.off("unhandledRejection", listener);
}
