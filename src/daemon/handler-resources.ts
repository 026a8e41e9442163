import pg from "pg";
import type { Config } from "../config/config.js";
import { makeAddJob } from "../client/add-job.js";
import { openEngineUtils, type EngineUtils } from "../engine/worker-utils.js";
import type { Logger } from "../logging/logger.js";
import type { TaskCatalog } from "../tasks/task-catalog.js";
import type { HandlerSettings, TaskContext } from "../tasks/task-context.js";

/** The part of a handler's context that every attempt shares. */
export type SharedHandlerContext = Pick<TaskContext, "settings" | "withPgClient" | "addJob">;

/**
 * What handlers may use beyond their payload: a Postgres pool of their own
 * (opened on first use, so a daemon whose tasks never touch the database holds
 * no extra connections), `addJob` over it, and the settings that are safe to
 * show them. The daemon's own pool stays for claiming, completions, history
 * and the heartbeat, however busy the handlers keep theirs.
 */
export class HandlerResources {
  private pool: pg.Pool | null = null;
  private utils: Promise<EngineUtils> | null = null;
  readonly context: SharedHandlerContext;

  constructor(
    private readonly connectionString: string,
    config: Config,
    tasks: TaskCatalog,
    private readonly logger: Logger,
  ) {
    const size = config.taskPoolSize;
    this.context = Object.freeze({
      settings: handlerSettings(config),
      withPgClient: async <T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
        const client = await this.openPool(size).connect();
        try {
          const result = await body(client);
          client.release();
          return result;
        } catch (error) {
          // The client may be mid-query (an aborted handler) or mid-transaction: never reuse it.
          client.release(true);
          throw error;
        }
      },
      addJob: async (task, payload, options) => makeAddJob(await this.engineUtils(size), tasks)(task, payload as never, options),
    });
  }

  async close(): Promise<void> {
    const utils = this.utils;
    const pool = this.pool;
    this.utils = null;
    this.pool = null;
    await utils?.then((u) => u.release()).catch(() => undefined);
    await pool?.end().catch((error: unknown) => this.logger.warn({ err: error }, "closing the handlers' database pool failed"));
  }

  private openPool(size: number): pg.Pool {
    if (this.pool) return this.pool;
    const pool = new pg.Pool({
      connectionString: this.connectionString,
      max: size,
      application_name: "pgmill-tasks",
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    });
    // An idle connection the server drops must not crash the process; the next checkout reconnects.
    pool.on("error", (error) => this.logger.warn({ err: error }, "a handlers' database connection was lost"));
    this.pool = pool;
    return pool;
  }

  private engineUtils(size: number): Promise<EngineUtils> {
    this.utils ??= openEngineUtils({ pgPool: this.openPool(size) });
    return this.utils;
  }
}

/** The allow-list of settings handlers see: adding a field here is a decision that it holds no secret. */
function handlerSettings(config: Config): HandlerSettings {
  return Object.freeze({
    httpAllowedHosts: config.httpAllowedHosts,
    concurrency: config.concurrency,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
  });
}
