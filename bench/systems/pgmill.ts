import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { pino } from "pino";
import { z } from "zod";
import { loadConfig } from "../../src/config/config.js";
import type { SettingName } from "../../src/config/schema.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { createDaemonEvents } from "../../src/daemon/daemon-events.js";
import { openDatabase } from "../../src/db/database.js";
import { migrate } from "../../src/db/migrate.js";
import { defineTask } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import type { TaskLimitsInput } from "../../src/tasks/task-limits.js";
import { JOB_KINDS, type JobKind, type JobProbe } from "../lib/probe.js";
import type { BenchDatabase } from "../lib/server.js";
import { EngineCounters, type EngineCounts } from "./engine-counters.js";
import { addJobsInBulk, addOneJob, graphileJobsLeft } from "./graphile-sql.js";
import { waitForCompletion, type SystemAdapter, type SystemId } from "./types.js";

export const silentLogger = pino({ level: "silent" });

/** What pgmill's ledger holds: rows and bytes of pgmill.job_runs (every partition, indexes and TOAST included). */
export interface LedgerSnapshot {
  readonly rows: number;
  readonly bytes: number;
}

/** Group-commit batches the ledger wrote during a run (from the daemon's `ledger:batch` events). */
export interface LedgerBatches {
  readonly batches: number;
  readonly rowsPerBatch: number;
  /** Mean wall time of one batch transaction (insert + commit). */
  readonly msPerBatch: number;
}

export async function ledgerSnapshot(db: pg.Pool | pg.Client): Promise<LedgerSnapshot> {
  const { rows } = await db.query<{ rows: string; bytes: string }>(`
    select (select count(*) from pgmill.job_runs) as rows,
           (select coalesce(sum(pg_total_relation_size(relid)), 0)
              from pg_partition_tree('pgmill.job_runs') where isleaf) as bytes`);
  return { rows: Number(rows[0]!.rows), bytes: Number(rows[0]!.bytes) };
}

/**
 * pgmill as shipped, in this process: `Daemon.start(loadConfig(...))` with
 * every default (ledger on, payloads stored in history), a silent pino
 * logger, an empty crontab, and a bench-only task registry.
 */
export class PgmillAdapter implements SystemAdapter {
  readonly label: string;
  readonly settings: string;
  readonly retryNote =
    "graphile-worker's backoff, not configurable per job: retry due exp(min(attempts,10)) s after the failure (2.7 s for the first); an idle pool finds it on its next poll (2 s)";
  readonly inProcess = true;

  private probe: JobProbe | null = null;
  private db: BenchDatabase | null = null;
  private control: pg.Pool | null = null;
  private daemon: Daemon | null = null;
  private crontabPath: string | null = null;
  private counters = new EngineCounters();
  private batches = { count: 0, rows: 0, seconds: 0 };

  private readonly tasks: ReturnType<PgmillAdapter["benchTasks"]>;

  /**
   * `overrides`: settings on top of the defaults (experiments only; the benchmark runs the defaults).
   * `limits`: cluster-wide limits on the bench task (the limits workload: their cost when not hit).
   */
  constructor(
    private readonly overrides: Partial<Record<SettingName, string>> = {},
    readonly id: SystemId = "pgmill",
    private readonly limits: TaskLimitsInput = {},
  ) {
    const extra = Object.entries(overrides).map(([k, v]) => `${k}=${v}`).join(" ");
    const limited = Object.keys(limits).length ? ` with ${JSON.stringify(limits)} on the task` : "";
    this.label = extra ? `pgmill (in-process, ${extra})` : `pgmill (in-process, defaults${limited})`;
    this.settings =
      `Daemon.start(loadConfig({DATABASE_URL, PGMILL_CRONTAB: empty file${extra ? `, ${extra}` : ""}})): ` +
      `${extra ? "otherwise " : ""}${describeDefaults()}, ledger on, history payload stored, silent pino logger; ` +
      `task defined with defineTask (zod payload {i, k}, no timeout${limited ? `, ${JSON.stringify(limits)}` : ""})`;
    this.tasks = this.benchTasks();
  }

  private benchTasks() {
    return taskRegistry(
      defineTask({
        name: "bench",
        payload: z.object({ i: z.number().int(), k: z.enum(JOB_KINDS) }),
        maxAttempts: 25,
        ...this.limits,
        handler: async (payload) => {
          await this.probe!.handle(payload);
        },
      }),
    );
  }

  async install(template: BenchDatabase): Promise<void> {
    const handle = openDatabase(template.url, { maxConnections: 2, applicationName: "pgmill-bench-install" });
    try {
      await migrate(handle.db, handle.pool, silentLogger);
    } finally {
      await handle.close();
    }
  }

  async prepare(db: BenchDatabase, probe: JobProbe): Promise<void> {
    this.db = db;
    this.probe = probe;
    this.control = new pg.Pool({ connectionString: db.url, max: 2, application_name: "pgmill-bench-control" });
    this.control.on("error", () => undefined);
    const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-bench-crontab-"));
    this.crontabPath = path.join(dir, "crontab");
    await writeFile(this.crontabPath, "");
  }

  enqueue(n: number, kind: JobKind, first = 0): Promise<void> {
    return addJobsInBulk(this.control!, "bench", n, { kind }, first);
  }

  enqueueOne(i: number, kind: JobKind): Promise<void> {
    return addOneJob(this.control!, "bench", { i, k: kind });
  }

  async start(): Promise<void> {
    const config = loadConfig({ ...this.overrides, DATABASE_URL: this.db!.url, PGMILL_CRONTAB: this.crontabPath! }, {});
    this.counters = new EngineCounters();
    this.batches = { count: 0, rows: 0, seconds: 0 };
    const events = createDaemonEvents();
    events.on("ledger:batch", (rows, seconds) => {
      this.batches.count++;
      this.batches.rows += rows;
      this.batches.seconds += seconds;
    });
    this.daemon = await Daemon.start(config, silentLogger, this.tasks, events);
    // The supervisor re-emits every pool's engine events here (the first fetch may precede this).
    this.counters.attach(this.daemon.pool.events);
  }

  takeEngineCounts(): EngineCounts {
    return this.counters.take();
  }

  takeLedgerBatches(): LedgerBatches {
    const { count, rows, seconds } = this.batches;
    this.batches = { count: 0, rows: 0, seconds: 0 };
    return { batches: count, rowsPerBatch: count ? rows / count : 0, msPerBatch: count ? (seconds * 1000) / count : 0 };
  }

  remaining(): Promise<number> {
    return graphileJobsLeft(this.control!);
  }

  waitForCompletion(n: number, deadline: number): Promise<number> {
    return waitForCompletion(this, this.probe!, n, deadline);
  }

  ledger(): Promise<LedgerSnapshot> {
    return ledgerSnapshot(this.control!);
  }

  async stop(): Promise<void> {
    await this.daemon?.shutdown();
    this.daemon = null;
    await this.control?.end();
    this.control = null;
    if (this.crontabPath) await rm(path.dirname(this.crontabPath), { recursive: true, force: true });
    this.crontabPath = null;
  }
}

function describeDefaults(): string {
  const d = loadConfig({}, {});
  return `concurrency ${d.concurrency}, db pool ${d.databasePoolSize}, ledger batch ${d.ledgerBatchSize}`;
}
