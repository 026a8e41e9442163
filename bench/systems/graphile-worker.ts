import { EventEmitter } from "node:events";
import { Logger, run, runMigrations, type Runner, type RunnerOptions, type TaskList, type WorkerEvents } from "graphile-worker";
import pg from "pg";
import { loadConfig } from "../../src/config/config.js";
import { engineOptions } from "../../src/engine/engine-options.js";
import type { BenchPayload, JobKind, JobProbe } from "../lib/probe.js";
import type { BenchDatabase } from "../lib/server.js";
import { EngineCounters, type EngineCounts } from "./engine-counters.js";
import { addJobsInBulk, addOneJob, graphileJobsLeft } from "./graphile-sql.js";
import { silentLogger } from "./pgmill.js";
import { waitForCompletion, type SystemAdapter } from "./types.js";

/** graphile-worker logs every completed job at info by default; both variants run silent, as pgmill does. */
const silentGraphileLogger = new Logger(() => () => undefined);

/** pgmill's default settings (PGMILL_CONCURRENCY, PGMILL_DB_POOL_SIZE, ...): gw-tuned runs the engine as pgmill does. */
const PGMILL_DEFAULTS = loadConfig({}, {});

/**
 * Bare graphile-worker 0.18 with a plain task list, in this process:
 * - `default`: `run({ connectionString, taskList })`: concurrency 1, pool of 10,
 *   no local queue, one get_job and one complete_job round trip per job;
 * - `tuned`: the options src/daemon/engine-options.ts gives pgmill (concurrency
 *   and local queue from pgmill's defaults, batched complete/fail), on a pg pool of
 *   pgmill's default size, without pgmill's attempt runner, ledger or logger bridge.
 */
export class GraphileWorkerAdapter implements SystemAdapter {
  readonly id: "gw-default" | "gw-tuned";
  readonly label: string;
  readonly settings: string;
  readonly retryNote =
    "exponential backoff exp(min(attempts,10)) s, not configurable in 0.18: the first retry is due 2.7 s after the failure; an idle worker finds it on its next poll (pollInterval 2 s)";
  readonly inProcess = true;

  private probe: JobProbe | null = null;
  private db: BenchDatabase | null = null;
  private control: pg.Pool | null = null;
  private runner: Runner | null = null;
  private workerPool: pg.Pool | null = null;
  private counters = new EngineCounters();

  constructor(private readonly variant: "default" | "tuned") {
    this.id = variant === "default" ? "gw-default" : "gw-tuned";
    this.label = variant === "default" ? "graphile-worker 0.18 defaults" : "graphile-worker 0.18 tuned as pgmill";
    this.settings =
      variant === "default"
        ? "run({connectionString, taskList}): concurrency 1, maxPoolSize 10, pollInterval 2 s, no local queue, unbatched complete/fail; silent logger, noHandleSignals, no crontab"
        : `run(engineOptions(...)) from src/daemon/engine-options.ts at pgmill's defaults: ${describeTuned()}; pg pool max ${PGMILL_DEFAULTS.databasePoolSize}; silent logger`;
  }

  async install(template: BenchDatabase): Promise<void> {
    await runMigrations({ connectionString: template.url, logger: silentGraphileLogger });
  }

  async prepare(db: BenchDatabase, probe: JobProbe): Promise<void> {
    this.db = db;
    this.probe = probe;
    this.control = new pg.Pool({ connectionString: db.url, max: 2, application_name: "gw-bench-control" });
    this.control.on("error", () => undefined);
  }

  enqueue(n: number, kind: JobKind, first = 0): Promise<void> {
    return addJobsInBulk(this.control!, "bench", n, { kind }, first);
  }

  enqueueOne(i: number, kind: JobKind): Promise<void> {
    return addOneJob(this.control!, "bench", { i, k: kind });
  }

  async start(): Promise<void> {
    const taskList: TaskList = { bench: (payload) => this.probe!.handle(payload as BenchPayload) };
    const events = new EventEmitter() as WorkerEvents;
    this.counters = new EngineCounters();
    this.counters.attach(events);
    this.runner = await run({ ...this.options(taskList), events });
  }

  takeEngineCounts(): EngineCounts {
    return this.counters.take();
  }

  private options(taskList: TaskList): RunnerOptions {
    if (this.variant === "default") {
      // parsedCronItems: [] keeps it from loading ./crontab (pgmill's, in this repository) from the working directory.
      return { connectionString: this.db!.url, taskList, parsedCronItems: [], logger: silentGraphileLogger, noHandleSignals: true };
    }
    this.workerPool = new pg.Pool({ connectionString: this.db!.url, max: PGMILL_DEFAULTS.databasePoolSize });
    // graphile-worker wants error handlers on the pool and on every client (as src/db/database.ts sets them).
    this.workerPool.on("error", () => undefined);
    this.workerPool.on("connect", (client) => client.on("error", () => undefined));
    return { ...tunedOptions(this.workerPool, taskList), logger: silentGraphileLogger };
  }

  remaining(): Promise<number> {
    return graphileJobsLeft(this.control!);
  }

  waitForCompletion(n: number, deadline: number): Promise<number> {
    return waitForCompletion(this, this.probe!, n, deadline);
  }

  async stop(): Promise<void> {
    await this.runner?.stop();
    this.runner = null;
    await this.workerPool?.end();
    this.workerPool = null;
    await this.control?.end();
    this.control = null;
  }
}

function tunedOptions(pgPool: pg.Pool, taskList: TaskList): RunnerOptions {
  return engineOptions({
    config: PGMILL_DEFAULTS,
    pgPool,
    taskList,
    cronItems: [],
    events: new EventEmitter() as WorkerEvents, // replaced in start()
    logger: silentLogger,
  });
}

/** The engine options as the report prints them, read from engineOptions() itself. */
function describeTuned(): string {
  const pool = new pg.Pool({ max: 1 });
  const { worker } = tunedOptions(pool, {}).preset!;
  void pool.end();
  return JSON.stringify(worker, (key, value) => (key === "gracefulShutdownAbortTimeout" ? undefined : value));
}
