import PgBoss from "pg-boss";
import pg from "pg";
import type { BenchPayload, JobKind, JobProbe } from "../lib/probe.js";
import type { BenchDatabase } from "../lib/server.js";
import { waitForCompletion, type SystemAdapter } from "./types.js";

const QUEUE = "bench";
/** pg-boss's floor for pollingIntervalSeconds. */
const MIN_POLLING_SECONDS = 0.5;
const INSERT_CHUNK = 10_000;
/** Every job gets one immediate retry (workload 4 needs exactly one). */
const RETRY = { retryLimit: 2, retryDelay: 0, retryBackoff: false } as const;

export interface PgBossSettings {
  /** `work()` registrations: each is one fetch-run loop. */
  readonly workers: number;
  /** Jobs per fetch; the handler gets them as one array. */
  readonly batchSize: number;
  /** Connections in pg-boss's pool (its default is 10). */
  readonly poolMax: number;
}

/**
 * pg-boss 10 in this process (its newest major for Node 20; 11+ needs Node 22).
 * v10 has no per-worker concurrency option: each `work()` call is a loop that
 * fetches `batchSize` jobs, awaits the handler, completes or fails the whole
 * batch, then sleeps until `pollingIntervalSeconds` (at least 0.5 s) has passed
 * since the fetch, even when jobs are waiting. Both modes use its documented
 * `notifyWorker(id)` after a non-empty fetch to skip that sleep, the highest
 * throughput it offers; enqueueing never wakes a worker (no LISTEN/NOTIFY).
 * - `job`: per-job handlers: batchSize 1, many loops;
 * - `batch`: batch handlers: a few loops of large batches (a failing job fails
 *   and retries its whole batch: that is pg-boss's unit of retry).
 */
export class PgBossAdapter implements SystemAdapter {
  readonly id: "boss-job" | "boss-batch";
  readonly label: string;
  readonly settings: string;
  readonly retryNote =
    "retryDelay 0, retryBackoff false: the retry is due at once (state retry, start_after = now()); in batch mode the whole batch is failed and retried";
  readonly inProcess = true;

  private probe: JobProbe | null = null;
  private db: BenchDatabase | null = null;
  private control: pg.Pool | null = null;
  private producer: PgBoss | null = null;
  private boss: PgBoss | null = null;
  /** Errors pg-boss emitted before teardown, with the phase they came in (the harness logs them). */
  private errors: string[] = [];
  private phase: "install" | "prepare" | "run" | "stop" = "install";

  constructor(
    private readonly mode: "job" | "batch",
    private readonly tuning: PgBossSettings,
  ) {
    this.id = mode === "job" ? "boss-job" : "boss-batch";
    this.label = mode === "job" ? "pg-boss 10 per-job handlers" : "pg-boss 10 batch handlers";
    this.settings =
      `${tuning.workers} work() loops x batchSize ${tuning.batchSize}, pollingIntervalSeconds ${MIN_POLLING_SECONDS} (its minimum), ` +
      `notifyWorker after each non-empty fetch, pool max ${tuning.poolMax}, schedule off, supervise on; ` +
      `jobs retryLimit ${RETRY.retryLimit} retryDelay 0 no backoff`;
  }

  async install(template: BenchDatabase): Promise<void> {
    const boss = this.newBoss(template.url, { max: 2, supervise: false, migrate: true });
    await boss.start();
    await boss.createQueue(QUEUE, { name: QUEUE, ...RETRY });
    await boss.stop({ graceful: false, close: true, wait: true });
  }

  async prepare(db: BenchDatabase, probe: JobProbe): Promise<void> {
    this.db = db;
    this.probe = probe;
    this.phase = "prepare";
    this.control = new pg.Pool({ connectionString: db.url, max: 2, application_name: "boss-bench-control" });
    this.control.on("error", () => undefined);
    // The application's side: enqueues through its own instance and connections.
    this.producer = this.newBoss(db.url, { max: 2, supervise: false, migrate: false });
    await this.producer.start();
  }

  async enqueue(n: number, kind: JobKind, first = 0): Promise<void> {
    for (let start = first; start < first + n; start += INSERT_CHUNK) {
      const end = Math.min(first + n, start + INSERT_CHUNK);
      const jobs: PgBoss.JobInsert<BenchPayload>[] = [];
      for (let i = start; i < end; i++) jobs.push({ name: QUEUE, data: { i, k: kind }, ...RETRY });
      await this.producer!.insert(jobs);
    }
  }

  async enqueueOne(i: number, kind: JobKind): Promise<void> {
    await this.producer!.send(QUEUE, { i, k: kind }, RETRY);
  }

  async start(): Promise<void> {
    const boss = this.newBoss(this.db!.url, { max: this.tuning.poolMax, supervise: true, migrate: false });
    this.boss = boss;
    this.phase = "run";
    await boss.start();
    const options = { batchSize: this.tuning.batchSize, pollingIntervalSeconds: MIN_POLLING_SECONDS };
    for (let w = 0; w < this.tuning.workers; w++) {
      let workerId: string | null = null;
      const handler = async (jobs: PgBoss.Job<BenchPayload>[]) => {
        try {
          if (this.mode === "job") {
            for (const job of jobs) await this.probe!.handle(job.data);
          } else {
            const results = await Promise.allSettled(jobs.map((job) => this.probe!.handle(job.data)));
            const failure = results.find((r) => r.status === "rejected");
            if (failure) throw (failure as PromiseRejectedResult).reason;
          }
        } finally {
          if (workerId) boss.notifyWorker(workerId);
        }
      };
      workerId = await boss.work<BenchPayload>(QUEUE, options, handler);
    }
  }

  async remaining(): Promise<number> {
    const { rows } = await this.control!.query<{ n: number }>(
      "select count(*)::int as n from pgboss.job where name = $1 and state <> 'completed'",
      [QUEUE],
    );
    return rows[0]!.n;
  }

  waitForCompletion(n: number, deadline: number): Promise<number> {
    return waitForCompletion(this, this.probe!, n, deadline);
  }

  async stop(): Promise<void> {
    this.phase = "stop";
    await this.boss?.stop({ graceful: true, wait: true, timeout: 10_000, close: true });
    this.boss = null;
    await this.producer?.stop({ graceful: false, wait: true, close: true });
    this.producer = null;
    await this.control?.end();
    this.control = null;
  }

  takeErrors(): string[] {
    const errors = this.errors;
    this.errors = [];
    return errors;
  }

  private newBoss(url: string, options: { max: number; supervise: boolean; migrate: boolean }): PgBoss {
    const boss = new PgBoss({ connectionString: url, application_name: `${this.id}-bench`, schedule: false, ...options });
    boss.on("error", (error) => {
      if (this.phase !== "stop" && this.errors.length < 20) this.errors.push(`${this.phase}: ${error.message}`);
    });
    return boss;
  }
}
