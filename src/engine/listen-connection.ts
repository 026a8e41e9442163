import type { WorkerEvents } from "graphile-worker";
import type pg from "pg";

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, release: (error?: Error | boolean) => void) => void;

/**
 * The pool to give graphile-worker when its LISTEN must not go through the
 * shared pool (DATABASE_URL may be a transaction-mode pooler, where a LISTEN
 * lands on whichever server connection the pooler picks and its
 * notifications reach other clients). graphile-worker 0.18 has no option for
 * a listen connection: it emits `pool:listen:connecting` and, in the same
 * tick, takes its LISTEN client with `pgPool.connect(callback)` (at start and
 * on every reconnect). So the connect that follows that event is served by
 * `session` (a direct connection); every other use (queries, fetches,
 * completions, cron) goes to `shared` itself. Guard:
 * tests/engine/listen-connection.test.ts.
 */
export function listenOnSession(shared: pg.Pool, session: pg.Pool, events: WorkerEvents): pg.Pool {
  let listenPending = false;
  events.on("pool:listen:connecting", () => (listenPending = true));
  const connect = (callback?: ConnectCallback) => {
    const pool = listenPending ? session : shared;
    listenPending = false;
    return callback ? pool.connect(callback) : pool.connect();
  };
  return new Proxy(shared, {
    get(target, property) {
      if (property === "connect") return connect;
      const value: unknown = Reflect.get(target, property, target);
      // Methods run on the real pool, so its own calls (query -> connect) never reach the session pool.
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
