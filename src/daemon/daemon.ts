import type { Config } from "../config/config.js";
import { CronControls } from "../controls/cron-controls.js";
import { CronPauses } from "../controls/cron-pauses.js";
import { CrontabSchedule } from "../crontab/crontab-schedule.js";
import { resolveDatabase, type DatabaseTarget } from "../db/connect.js";
import { openDatabase, type DatabaseHandle } from "../db/database.js";
import { migrateDatabase } from "../db/migrate.js";
import { StarvationLog, watchPoolWaits } from "../db/pool-waits.js";
import { refuseTransactionPooling } from "../db/transaction-pooler.js";
import { untilConnected } from "../db/until-connected.js";
import { sweepDeadLetters } from "../dead-letters/sweep.js";
import { Ledger } from "../ledger/ledger.js";
import { applyRetention } from "../ledger/retention.js";
import type { Logger } from "../logging/logger.js";
import type { TaskCatalog } from "../tasks/task-catalog.js";
import { settlesWithin } from "../async/settles-within.js";
import { CancelWatcher } from "../controls/cancel-watcher.js";
import { AttemptRunner } from "./attempt-runner.js";
import { HandlerResources } from "./handler-resources.js";
import { createDaemonEvents, type DaemonEvents, type DaemonState } from "./daemon-events.js";
import { onCronEnqueued } from "../engine/cron-adapter.js";
import { POLL_INTERVAL_MS, engineOptions } from "../engine/engine-options.js";
import { onEngineOutcomes } from "../engine/engine-failures.js";
import { listenOnSession } from "../engine/listen-connection.js";
import { lockAges } from "../engine/job-reads.js";
import { PoolSupervisor } from "../engine/pool-supervisor.js";
import { nudgeFreedQueues } from "../engine/queue-nudge.js";
import { engineTaskList } from "../engine/task-list.js";
import { Heartbeat } from "./heartbeat.js";
import { Parking } from "../controls/parking.js";
import { pausedCheck } from "../controls/paused-check.js";
import { PausedTasks } from "../controls/paused-tasks.js";
import { RescheduleService } from "../controls/reschedule-service.js";
import { TaskGate } from "../controls/task-gate.js";
import { taskLimitsCheck } from "../controls/task-limits-check.js";
import { releaseDaemonTaskSlots } from "../controls/task-limit-queries.js";
import { taskLimitsOf } from "../tasks/task-limits.js";
import { poolNudge } from "../engine/queue-nudge.js";
import { DaemonIdentity } from "./identity.js";
import { Lease } from "./lease.js";
import { Reaper } from "./reaper.js";
import { openSessionConnections, type SessionConnections } from "./session-connections.js";

/** After the drain budget the signal aborts; handlers get this long to settle before their jobs are released. */
const ABORT_GRACE_MS = 5_000;
const LEDGER_CLOSE_MS = 10_000;
/** Partitions ahead, history and dead-letter retention: hourly is plenty. */
const RETENTION_EVERY_MS = 60 * 60 * 1000;
/** An idle pool that has not fetched for this many poll intervals is wedged. */
const WEDGED_AFTER_POLLS = 15;

/**
 * One pgmill daemon: migrates, registers and heartbeats, loads the crontab,
 * runs the supervised worker pool with the ledger, sweeps half-done
 * dead-letter moves, reaps dead peers, aborts the attempts operators cancel, and shuts down in order: stop cron and
 * fetching, drain, abort, release, flush, close. It reports all of it on
 * `events`, which the caller may create first to listen from the start.
 */
export class Daemon {
  private stateNow: DaemonState = "starting";
  private sweepTimer: NodeJS.Timeout | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly identity: DaemonIdentity,
    readonly events: DaemonEvents,
    readonly config: Config,
    private readonly logger: Logger,
    readonly target: DatabaseTarget,
    readonly database: DatabaseHandle,
    private readonly sessions: SessionConnections,
    readonly ledger: Ledger,
    readonly crontab: CrontabSchedule,
    readonly attempts: AttemptRunner,
    readonly pool: PoolSupervisor,
    readonly heartbeat: Heartbeat,
    readonly lease: Lease,
    private readonly reaper: Reaper,
    private readonly handlerResources: HandlerResources,
    private readonly cancels: CancelWatcher,
    readonly pausedTasks: PausedTasks,
    readonly reschedules: RescheduleService,
    private readonly cronControls: CronControls,
  ) {}

  static async start(
    config: Config,
    logger: Logger,
    tasks: TaskCatalog,
    events: DaemonEvents = createDaemonEvents(),
  ): Promise<Daemon> {
    events.emit("state", "starting");
    const target = await resolveDatabase(config, logger);
    const database = openDatabase(target.connectionString, {
      maxConnections: config.databasePoolSize,
      onError: (error) => logger.warn({ err: error }, "idle database connection lost"),
      onCapChange: ({ cap, size, refusal }) =>
        refusal
          ? logger.error(
              { err: refusal, cap, poolSize: size },
              `the database refused a connection (${refusal.message}, SQLSTATE 53300): a CONNECTION LIMIT of the role or database, ` +
                `or max_connections, is below PGMILL_DB_POOL_SIZE=${size}; using at most ${cap} connections until more are allowed`,
            )
          : logger.info({ cap, poolSize: size }, `the database allows another connection: using at most ${cap} of ${size}`),
    });
    const starvation = new StarvationLog(logger, config.databasePoolSize);
    watchPoolWaits(database.pool, (seconds) => {
      events.emit("db:pool:wait", seconds);
      starvation.record(seconds);
    });
    let sessions: SessionConnections | null = null;
    try {
      await untilConnected(
        "migrate the database",
        async () => {
          await refuseTransactionPooling(target);
          return migrateDatabase(target.sessionConnectionString, logger);
        },
        logger,
      );
      events.emit("migrations", true);
      // Pauses first: the engine's cron asks them from its first (backfill) pass.
      const pauses = new CronPauses(database.db, logger, (ids) => events.emit("cron:paused", ids));
      await pauses.refresh();
      const crontab = new CrontabSchedule(
        config.crontabPath, tasks, logger, (ids) => events.emit("cron:loaded", ids), (id, instant) => pauses.allows(id, instant),
      );
      await crontab.load();
      sessions = openSessionConnections(target, logger);
      const daemon = Daemon.assemble(config, logger, events, target, database, sessions, crontab, pauses, tasks);
      await daemon.run();
      return daemon;
    } catch (error) {
      await sessions?.close().catch(() => undefined);
      await database.close().catch(() => undefined);
      await target.embedded?.stop().catch(() => undefined);
      throw error;
    }
  }

  private static assemble(
    config: Config,
    logger: Logger,
    events: DaemonEvents,
    target: DatabaseTarget,
    database: DatabaseHandle,
    sessions: SessionConnections,
    crontab: CrontabSchedule,
    pauses: CronPauses,
    tasks: TaskCatalog,
  ): Daemon {
    const identity = new DaemonIdentity();
    const ledger = new Ledger(database.db, {
      batchSize: config.ledgerBatchSize,
      logger,
      onBatch: (rows, seconds) => events.emit("ledger:batch", rows, seconds),
    });
    let daemon: Daemon | null = null;
    const lease = new Lease(config.deadAfterMs, () => daemon!.heartbeat.beat());
    const handlerResources = new HandlerResources(target.connectionString, config, tasks, logger);
    // Parking and the gate (src/controls): the pool's nudge is bound below, once the pool exists.
    let nudge = (_count?: number): void => undefined;
    const reschedules = new RescheduleService(database.db, (count) => nudge(count), logger, config.batchDelayMs);
    const pausedTasks = new PausedTasks(database.db, logger, (paused, resumed) => {
      events.emit("tasks:paused", [...paused]);
      // Held jobs are due again, and reschedule_jobs sent no NOTIFY.
      if (resumed.length) nudge(config.concurrency);
    });
    const limits = taskLimitsCheck({
      db: database.db,
      daemonId: () => identity.id,
      nudge: (count) => nudge(count),
      logger,
      onSlots: (task, held) => events.emit("task:slots", task, held),
    });
    const gate = new TaskGate([pausedCheck(pausedTasks), limits]);
    const parking = new Parking(database.db, reschedules);
    let cancels: CancelWatcher | null = null;
    const attempts = new AttemptRunner({
      ledger, logger, identity, lease, config, events, handlers: handlerResources.context, gate, parking,
      pendingCancel: (jobId) => cancels?.pendingCancel(jobId),
    });
    cancels = new CancelWatcher(database.db, attempts, events, logger);
    const taskList = engineTaskList(Object.keys(tasks), (job) => attempts.run(tasks, job));
    let databaseUp = true;
    events.on("database", (ok) => (databaseUp = ok));
    const reaper = new Reaper(database.db, identity, config.deadAfterMs, events, logger);
    let enginePool = database.pool;
    const pool = new PoolSupervisor(
      (engineEvents) =>
        engineOptions({
          config,
          pgPool: enginePool,
          // DATABASE_URL may be a transaction pooler when a direct URL is given.
          preparedStatements: !target.direct,
          taskList,
          cronItems: crontab.items,
          events: engineEvents,
          logger,
          onFetchFailure: (message) => {
            events.emit("engine:failure", "fetch", message);
            pool.fetchFailed();
          },
        }),
      logger,
      {
        restarted: (restarts) => events.emit("pool:restart", restarts),
        running: (running) => events.emit("pool:running", running),
        retired: (lockIds, why) => reaper.retire(lockIds, why),
        lockId: (lockId) => daemon?.noteWorkerId(lockId),
      },
      {
        idle: () => attempts.runningCount === 0,
        databaseUp: () => databaseUp,
        lockedJobs: (lockIds) => lockAges(database.db, lockIds),
      },
      WEDGED_AFTER_POLLS * POLL_INTERVAL_MS,
      config.shutdownTimeoutMs + ABORT_GRACE_MS,
    );

    nudge = poolNudge(pool.events);
    if (sessions.listen) enginePool = listenOnSession(database.pool, sessions.listen.pool, pool.events);

    const heartbeat = new Heartbeat(
      sessions.heartbeat.db,
      identity,
      { intervalMs: config.heartbeatIntervalMs, deadAfterMs: config.deadAfterMs },
      {
        state: () => daemon?.state ?? "starting",
        jobsInFlight: () => attempts.runningCount,
        workerIds: () => identity.lockIds,
      },
      lease,
      reaper,
      () => daemon!.rejoin(),
      events,
      logger,
    );
    const cronControls = new CronControls(database.db, crontab, pauses, events, logger, () => identity.id);
    daemon = new Daemon(
      identity, events, config, logger, target, database, sessions, ledger, crontab, attempts, pool, heartbeat, lease, reaper, handlerResources,
      cancels, pausedTasks, reschedules, cronControls,
    );
    onCronEnqueued(pool.events, (identifiers, at) => events.emit("cron:enqueued", identifiers, at));
    nudgeFreedQueues(pool.events, config.batchDelayMs);
    events.emit(
      "tasks:limited",
      Object.values(tasks).flatMap((task) => {
        const limited = taskLimitsOf(task);
        return limited ? [{ task: task.name, ...limited }] : [];
      }),
    );
    onEngineOutcomes(pool.events, {
      failed: (operation, message) => events.emit("engine:failure", operation, message),
      succeeded: (operation) => events.emit("engine:success", operation),
    });
    return daemon;
  }

  get id(): string {
    return this.identity.id;
  }

  get state(): DaemonState {
    return this.stateNow;
  }

  /** Graceful shutdown; safe to call more than once. */
  shutdown(): Promise<void> {
    this.stopping ??= this.drainAndClose();
    return this.stopping;
  }

  /** A second signal: abort every handler now, record and release their jobs, flush, close. */
  async forceShutdown(): Promise<void> {
    this.setState("draining");
    this.attempts.abortAll("forced shutdown");
    await this.releaseAbandoned();
    await this.close();
  }

  /** Persist a new lock id at once: a crash before the next beat must not hide its jobs from the reaper. */
  noteWorkerId(workerId: string): void {
    if (this.identity.addLockId(workerId)) void this.heartbeat.beat();
  }

  /**
   * A peer reaped this daemon (it was paused or cut off for longer than
   * dead-after) and released its jobs. Its pool and local queue go at once, so
   * no stale job starts and no stale completion reaches the engine; attempts
   * still running finish and are recorded `stale`. It rejoins under a new
   * identity, leaving the reaped row and the record of its reaping as they are.
   */
  private async rejoin(): Promise<void> {
    const previous = this.identity.rotate();
    this.logger.error(
      { previousDaemonId: previous, daemonId: this.identity.id, running: this.attempts.runningCount },
      "a peer marked this daemon dead and released its jobs; dropping the worker pool and rejoining under a new identity",
    );
    this.events.emit("rejoined", previous, this.identity.id);
    await this.heartbeat.register();
    if (this.stopping) return;
    await this.pool.replace("pgmill: this daemon was reaped by a peer");
    await this.heartbeat.register();
  }

  private async run(): Promise<void> {
    await this.heartbeat.register();
    await this.retain();
    await this.sweep();
    this.crontab.watch();
    // Before the pool: no job of a paused task starts unchecked.
    await this.pausedTasks.start();
    this.reschedules.start();
    await this.cronControls.start();
    await this.pool.start();
    this.heartbeat.start();
    // Runs through the drain too: a cancel still reaches an attempt the shutdown waits for.
    this.cancels.start();
    this.sweepTimer = setInterval(() => void this.sweep(), this.config.sweepIntervalMs);
    this.sweepTimer.unref();
    this.retentionTimer = setInterval(() => void this.retain(), RETENTION_EVERY_MS);
    this.retentionTimer.unref();
    this.setState("running");
    void this.heartbeat.beat();
    this.logger.info(
      { daemonId: this.id, concurrency: this.config.concurrency, crontab: this.config.crontabPath },
      "pgmill daemon running",
    );
  }

  private async drainAndClose(): Promise<void> {
    this.setState("draining");
    void this.heartbeat.beat();
    this.logger.info(
      { running: this.attempts.runningCount, drainBudgetMs: this.config.shutdownTimeoutMs },
      "shutting down: cron and fetching stopped, draining running jobs",
    );
    this.stopBackgroundWork();
    const drained = await settlesWithin(this.pool.stop(), this.config.shutdownTimeoutMs + ABORT_GRACE_MS);
    if (drained) await this.releaseLeftovers(new Set());
    else await this.releaseAbandoned();
    await this.close();
  }

  /** Records the attempts still running, has the engine fail them, and releases what is still locked. */
  private async releaseAbandoned(): Promise<void> {
    this.stopBackgroundWork();
    const recorded = await this.attempts.recordAbandoned("abandoned: the daemon shut down before the attempt finished");
    if (recorded.size) this.logger.warn({ jobs: recorded.size }, "releasing jobs whose handlers did not settle");
    await this.pool.kill();
    await this.releaseLeftovers(recorded);
  }

  /**
   * Last, whatever this daemon's locks still hold is released the way a dead
   * peer's jobs are (a `lost` row unless `recorded` has this attempt's row):
   * its row will say `stopped`, which no peer reaps, and the engine's own lock
   * timeout is four hours. graphile-worker 0.18 leaves jobs locked when it
   * stops a pool whose local queue holds some, and its `runner.kill()` does
   * nothing once a graceful stop began (a handler that never settles).
   */
  private async releaseLeftovers(recorded: ReadonlySet<string>): Promise<void> {
    this.reaper.retire(this.identity.lockIds, "the daemon shut down with the job still locked");
    await this.reaper
      .releaseRetired(recorded)
      .catch((error: unknown) => this.logger.error({ err: error }, "could not release this daemon's remaining job locks"));
  }

  private async close(): Promise<void> {
    await this.cancels.stop();
    await this.cronControls.stop();
    await this.ledger.close(LEDGER_CLOSE_MS);
    // After the ledger: its last rows may carry retry requests. Left over, any daemon applies them.
    await this.reschedules.stop().catch((error) => this.logger.warn({ err: error }, "applying the last job reschedules failed"));
    await this.pausedTasks.stop();
    // Slots of attempts that never settled (their jobs are released by now): free them for the other daemons.
    await releaseDaemonTaskSlots(this.database.db, [this.identity.id]).catch((error) =>
      this.logger.warn({ err: error }, "freeing this daemon's task slots failed; they count no more once their jobs are unlocked"),
    );
    await this.handlerResources.close();
    this.lease.close();
    await this.heartbeat.stop();
    await this.sessions.close().catch((error) => this.logger.warn({ err: error }, "closing the session connections failed"));
    await this.database.close().catch((error) => this.logger.warn({ err: error }, "closing the database pool failed"));
    await this.target.embedded?.stop();
    this.setState("stopped");
    this.logger.info({ daemonId: this.id }, "pgmill daemon stopped");
  }

  private stopBackgroundWork(): void {
    this.crontab.stop();
    void this.cronControls.stop();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.sweepTimer = null;
    this.retentionTimer = null;
  }

  private async retain(): Promise<void> {
    try {
      const result = await applyRetention(this.database.db, this.config);
      if (result.partitionsDropped || result.deadLettersPurged) this.logger.info(result, "applied history and dead-letter retention");
    } catch (error) {
      this.logger.warn({ err: error }, "history retention failed; will retry");
    }
  }

  private async sweep(): Promise<void> {
    try {
      const { moved, finished, movedTasks } = await sweepDeadLetters(this.database.db, this.id);
      if (moved || finished) this.logger.info({ moved, finished }, "dead-letter sweep finished half-done moves");
      for (const task of movedTasks) this.events.emit("job:dead", task, "max_attempts");
    } catch (error) {
      this.logger.warn({ err: error }, "dead-letter sweep failed; will retry");
    }
  }

  private setState(state: DaemonState): void {
    if (this.stateNow === state) return;
    this.stateNow = state;
    this.events.emit("state", state);
  }
}
