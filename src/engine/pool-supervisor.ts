import { EventEmitter } from "node:events";
import { run, type Runner, type RunnerOptions, type WorkerEvents } from "graphile-worker";
import { settlesWithin } from "../async/settles-within.js";
import { absorbEngineRejections } from "./engine-rejections.js";
import { isReleasedQueueNoise } from "./engine-logger.js";
import { HandedJobs, ORPHAN_AFTER_SECONDS, type LockedJob } from "./orphan-locks.js";
import type { Logger } from "../logging/logger.js";

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
const WATCHDOG_EVERY_MS = 5_000;
/** After the shutdown budget, a forceful kill gets this long before the runner is given up on. */
const KILL_GRACE_MS = 10_000;
/** Longer than graphile-worker's retries of returning a local queue. */
const RETURN_RETRIES_MS = 60_000;
/** After a failed fetch, look for orphaned locks this long: past the orphan age, twice over. */
const AUDIT_AFTER_FETCH_FAILURE_MS = ORPHAN_AFTER_SECONDS * 1000 + 2 * WATCHDOG_EVERY_MS;

/** What the watchdog needs to know about the rest of the daemon. */
export interface PoolConditions {
  /** No attempt is running in this daemon. */
  idle(): boolean;
  /** The database answered the last heartbeat. */
  databaseUp(): boolean;
  /** Every job these lock ids hold, and for how long (the orphan audit). */
  lockedJobs(lockIds: readonly string[]): Promise<LockedJob[]>;
}

/**
 * Keeps a graphile-worker runner alive. A runner can stop by itself (with
 * batching on, a database error while completing jobs ends the pool); the
 * supervisor logs it and starts a new one with exponential backoff. It never
 * gives up and never exits the process: only `stop()` ends it.
 *
 * A watchdog also restarts a pool that is wedged without stopping: idle, the
 * database answering, yet no successful job fetch for `wedgedAfterMs` (an
 * idle pool fetches every poll interval). graphile-worker (0.17.3 and 0.18.0)
 * gets there when its first task lookup fails (database away at start-up):
 * `getTaskDetails` caches the rejected lookup and every later fetch fails with
 * it. A new runner starts clean. No upstream issue yet; guard:
 * tests/engine/engine-quirks.test.ts.
 */
export class PoolSupervisor {
  readonly events: WorkerEvents = new EventEmitter() as WorkerEvents;
  private runner: Runner | null = null;
  private stopping = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private restarts = 0;
  private lastFetch = Date.now();
  private watchdog: NodeJS.Timeout | null = null;
  private detachRejections: (() => void) | null = null;
  /** The current runner's pool and worker ids: what its job locks carry. */
  private lockIds = new Set<string>();
  /** Why graphile-worker shut the current pool down, when it did so itself. */
  private shutdownReason: string | null = null;
  private readonly handed = new HandedJobs(this.events);
  private lastFetchFailure = 0;
  private auditing = false;

  constructor(
    private readonly options: (events: WorkerEvents) => RunnerOptions,
    private readonly logger: Logger,
    private readonly report: {
      restarted(restarts: number): void;
      running(running: boolean): void;
      /** A runner ended by itself; jobs still locked with these ids are nobody's now. */
      retired(lockIds: string[], why: string): void;
      /** A new pool or worker id: the job locks it takes carry it. */
      lockId(id: string): void;
    },
    private readonly conditions: PoolConditions,
    private readonly wedgedAfterMs: number,
    /** How long a pool graphile-worker is shutting down by itself may take before it is killed. */
    private readonly shutdownBudgetMs: number,
  ) {
    this.events.on("localQueue:getJobs:complete", () => (this.lastFetch = Date.now()));
    this.events.on("pool:create", ({ workerPool }) => {
      this.lastFetch = Date.now();
      this.noteLockId(workerPool.id);
    });
    this.events.on("worker:create", ({ worker }) => this.noteLockId(worker.workerId));
    this.events.on("pool:gracefulShutdown", ({ message }) => {
      this.shutdownReason ??= message;
      if (!this.stopping) this.bound(this.runner);
    });
  }

  private noteLockId(id: string): void {
    this.lockIds.add(id);
    this.report.lockId(id);
  }

  /** A fetch failed: its statement may have locked jobs whose answer never arrived (see HandedJobs). */
  fetchFailed(): void {
    this.lastFetchFailure = Date.now();
  }

  get running(): boolean {
    return this.runner !== null;
  }

  get restartCount(): number {
    return this.restarts;
  }

  /** Starts the first runner; resolves once it is up (retrying until it is). */
  async start(): Promise<void> {
    this.detachRejections ??= absorbEngineRejections(this.logger);
    this.watchdog ??= setInterval(() => {
      this.checkWedged();
      void this.auditOrphans();
    }, WATCHDOG_EVERY_MS);
    this.watchdog.unref();
    while (!this.stopping && !this.runner) {
      await this.launch();
      if (!this.runner && !this.stopping) await this.backoff();
    }
  }

  /** Graceful stop: cron and fetching stop, running jobs drain (see engine options). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.releaseRejectionsLater();
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const runner = this.runner;
    if (runner) {
      await runner.stop().catch((error: unknown) => {
        const quirk = error instanceof Error && isReleasedQueueNoise(error.message);
        this.logger[quirk ? "debug" : "warn"]({ err: error }, "runner stop reported an error");
      });
    }
  }

  /**
   * Drops the current runner at once and starts a new one: its local queue and
   * running jobs are no longer this daemon's (a peer reaped it). The engine's
   * failures and returns of them check the lock, so they touch nothing; the
   * handlers still running finish in the background and are recorded stale.
   */
  async replace(reason: string): Promise<void> {
    const runner = this.runner;
    this.runner = null;
    if (runner) {
      this.report.running(false);
      await settlesWithin(runner.kill(reason).catch(() => undefined), KILL_GRACE_MS);
    }
    if (!this.stopping) await this.start();
  }

  /** Forceful stop: graphile-worker fails (releases) the jobs still running so another daemon can take them. */
  async kill(): Promise<void> {
    this.stopping = true;
    this.releaseRejectionsLater();
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.runner?.kill("pgmill forced shutdown").catch((error) => this.logger.warn({ err: error }, "runner kill reported an error"));
  }

  /** A stopped pool's queue may still fail to return after the stop resolves (retries run for a while). */
  private releaseRejectionsLater(): void {
    const detach = this.detachRejections;
    this.detachRejections = null;
    if (detach) setTimeout(detach, RETURN_RETRIES_MS).unref();
  }

  private checkWedged(): void {
    const silentFor = Date.now() - this.lastFetch;
    if (!this.runner || this.stopping || silentFor < this.wedgedAfterMs) return;
    if (!this.conditions.idle() || !this.conditions.databaseUp()) return;
    this.logger.error(
      { silentForMs: silentFor },
      "worker pool has fetched no jobs while idle and the database answers; restarting it",
    );
    this.lastFetch = Date.now();
    // Ends the runner; onRunnerEnded sees an unplanned stop and starts a new one.
    void this.runner.stop("pgmill watchdog: pool wedged").catch(() => undefined);
  }

  /**
   * For a while after a failed fetch, looks for jobs the pool locks but never
   * received. It cannot release them alone (graphile-worker unlocks by pool
   * id only, and the pool's running jobs carry the same id), so the pool is
   * stopped gracefully: its queue goes back, its attempts finish, and once it
   * has ended the reaper releases what it still locks, with a `lost` row.
   */
  private async auditOrphans(): Promise<void> {
    const runner = this.runner;
    if (!runner || this.stopping || this.auditing || this.shutdownReason) return;
    if (Date.now() - this.lastFetchFailure > AUDIT_AFTER_FETCH_FAILURE_MS) return;
    this.auditing = true;
    try {
      const readAt = Date.now();
      const orphans = this.handed.audit(await this.conditions.lockedJobs([...this.lockIds]), readAt);
      if (!orphans.length || this.runner !== runner || this.stopping || this.shutdownReason) return;
      this.shutdownReason = `jobs ${orphans.join(", ")} were locked by the pool but never reached it (a fetch whose answer was lost)`;
      this.logger.error({ jobs: orphans }, "jobs are locked by this worker pool but never reached it; restarting the pool to release them");
      void runner.stop("pgmill: jobs locked by the pool never reached it").catch(() => undefined);
    } catch (error) {
      this.logger.debug({ err: error }, "orphaned lock audit failed; the next one retries");
    } finally {
      this.auditing = false;
    }
  }

  /**
   * A pool graphile-worker shuts down by itself may never finish: the chaos
   * suite saw 0.17.3 wait forever after a refused completion batch under
   * load, and a handler that never settles holds it too (0.18.0 still ends the
   * pool on a refused completion that is not a retryable SQLSTATE; guard:
   * tests/daemon/stopped-pool-locks.test.ts). The daemon would
   * sit idle with its jobs locked. Past the shutdown budget it is killed
   * (graphile-worker fails the jobs still running, which releases them) and,
   * killed or not, given up on and replaced.
   */
  private bound(runner: Runner | null): void {
    if (!runner) return;
    const timer = setTimeout(async () => {
      if (this.runner !== runner || this.stopping) return;
      this.logger.error(
        { budgetMs: this.shutdownBudgetMs, reason: this.shutdownReason },
        "worker pool did not finish shutting down within its budget; killing it",
      );
      await settlesWithin(runner.kill("pgmill: pool did not finish shutting down").catch(() => undefined), KILL_GRACE_MS);
      this.onRunnerEnded(runner, new Error(`${this.shutdownReason ?? "it stopped"}; it did not finish shutting down and was killed`));
    }, this.shutdownBudgetMs);
    timer.unref();
  }

  private async launch(): Promise<void> {
    this.lockIds = new Set();
    this.shutdownReason = null;
    try {
      const runner = await run(this.options(this.events));
      this.runner = runner;
      this.failures = 0;
      this.report.running(true);
      runner.promise.then(
        () => this.onRunnerEnded(runner, null),
        (error: unknown) => this.onRunnerEnded(runner, error),
      );
    } catch (error) {
      this.failures++;
      this.logger.error({ err: error, attempt: this.failures }, "worker pool failed to start; retrying");
    }
  }

  private onRunnerEnded(runner: Runner, error: unknown): void {
    if (this.runner !== runner) return;
    this.runner = null;
    if (this.stopping) return this.report.running(false);
    this.failures++;
    this.restarts++;
    this.report.running(false);
    this.report.restarted(this.restarts);
    this.report.retired([...this.lockIds], error instanceof Error ? error.message : (this.shutdownReason ?? "it stopped"));
    this.logger.error({ err: error, restarts: this.restarts }, "worker pool stopped unexpectedly; starting a new one");
    void this.backoff().then(() => this.start());
  }

  private backoff(): Promise<void> {
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.max(0, this.failures - 1));
    return new Promise((resolve) => {
      this.restartTimer = setTimeout(resolve, delay);
    });
  }
}
