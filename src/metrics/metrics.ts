import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { CancelledState, DaemonEvents } from "../daemon/daemon-events.js";
import { RUN_STATUSES, type DeadLetterReason, type RunStatus } from "../db/schema.js";
import type { CachedSnapshot } from "./queue-snapshot.js";
import { PARK_REASONS } from "../controls/task-gate.js";

const REASONS: readonly DeadLetterReason[] = ["max_attempts", "permanent_error", "invalid_payload", "daemon_lost"];
const QUEUE_STATES = ["ready", "scheduled", "running"] as const;
const CANCELLED_STATES: readonly CancelledState[] = ["queued", "running"];

/** Milliseconds to two hours: jobs range from no-ops to reports. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200];

/**
 * pgmill's Prometheus metrics. Names follow Prometheus conventions (`pgmill_`
 * prefix, `_total` counters, seconds); labels are few and bounded (task,
 * outcome, reason, state, crontab identifier). Series for every registered task
 * are created at zero up front, so rates and alerts work before the first job.
 */
export class PgmillMetrics {
  readonly registry = new Registry();
  private snapshot: CachedSnapshot | null = null;
  private poolWaiting: (() => number) | null = null;

  constructor(events: DaemonEvents, options: { tasks: readonly string[]; concurrency: number }) {
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client names three gauges `_total`, which Prometheus reserves for
    // counters (promtool rejects them); their by-type twins carry the same data.
    for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
      this.registry.removeSingleMetric(name);
    }

    const started = new Counter({ name: "pgmill_attempts_started_total", help: "Attempts started.", labelNames: ["task"], registers: r });
    const finished = new Counter({
      name: "pgmill_attempts_finished_total",
      help: `Attempts finished, by outcome (${RUN_STATUSES.join(", ")}).`,
      labelNames: ["task", "outcome"],
      registers: r,
    });
    const duration = new Histogram({
      name: "pgmill_attempt_duration_seconds",
      help: "Attempt duration.",
      labelNames: ["task", "outcome"],
      buckets: DURATION_BUCKETS,
      registers: r,
    });
    const inFlight = new Gauge({ name: "pgmill_jobs_in_flight", help: "Attempts running in this daemon.", registers: r });
    const concurrency = new Gauge({ name: "pgmill_pool_concurrency", help: "The most attempts this daemon runs at once.", registers: r });
    const moved = new Counter({
      name: "pgmill_dead_letters_moved_total",
      help: "Jobs this daemon moved to dead letters, by reason.",
      labelNames: ["task", "reason"],
      registers: r,
    });
    const cancelled = new Counter({
      name: "pgmill_jobs_cancelled_total",
      help:
        "Jobs cancelled with pgmill.cancel_job: state running (an attempt of this daemon recorded cancelled) or queued " +
        "(removed before it ran; counted by the one daemon that saw it first). A task this daemon has no handler for reads task=\"\".",
      labelNames: ["task", "state"],
      registers: r,
    });
    const cronLast = new Gauge({
      name: "pgmill_cron_last_enqueue_timestamp_seconds",
      help: "When this daemon last enqueued a tick of the crontab line (or loaded it); take the max across replicas.",
      labelNames: ["identifier"],
      registers: r,
    });
    const batchRows = new Histogram({
      name: "pgmill_ledger_batch_rows",
      help: "History rows per ledger transaction.",
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: r,
    });
    const batchSeconds = new Histogram({
      name: "pgmill_ledger_batch_duration_seconds",
      help: "Ledger transaction latency.",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: r,
    });
    const restarts = new Counter({ name: "pgmill_pool_restarts_total", help: "Worker pools restarted after stopping by themselves.", registers: r });
    const recovered = new Counter({
      name: "pgmill_lost_jobs_recovered_total",
      help: "Jobs of dead daemons this daemon released.",
      registers: r,
    });
    const poolWaits = new Counter({
      name: "pgmill_db_pool_waits_total",
      help: "Checkouts of a database connection that queued because every connection of the pool (PGMILL_DB_POOL_SIZE) was busy.",
      registers: r,
    });
    const poolWaitSeconds = new Counter({
      name: "pgmill_db_pool_wait_seconds_total",
      help: "Time spent queuing for a database connection of the pool.",
      registers: r,
    });
    new Gauge({
      name: "pgmill_db_pool_waiting_clients",
      help: "Callers queuing for a database connection of the pool now.",
      registers: r,
      collect() {
        this.set(self.poolWaiting?.() ?? 0);
      },
    });
    const parked = new Counter({
      name: "pgmill_jobs_parked_total",
      help: "Claimed jobs this daemon handed back unrun, their attempt not spent, by reason (paused, concurrency, rate_limit).",
      labelNames: ["task", "reason"],
      registers: r,
    });
    const paused = new Gauge({
      name: "pgmill_task_paused",
      help: "1 while the task is paused (pgmill.pause_task), as this daemon last read it (every half second).",
      labelNames: ["task"],
      registers: r,
    });
    const slotsHeld = new Gauge({
      name: "pgmill_task_slots_held",
      help: "Attempts of a task with `concurrency` running on this daemon, each holding a cluster-wide slot; sum over daemons to compare with pgmill_task_concurrency_limit.",
      labelNames: ["task"],
      registers: r,
    });
    const concurrencyLimit = new Gauge({
      name: "pgmill_task_concurrency_limit",
      help: "A task's cluster-wide concurrency limit (defineTask concurrency), for the tasks that have one.",
      labelNames: ["task"],
      registers: r,
    });
    const rateLimit = new Gauge({
      name: "pgmill_task_rate_limit",
      help: "The most attempts of a task started per window over all daemons (defineTask rateLimit.max).",
      labelNames: ["task"],
      registers: r,
    });
    const rateWindow = new Gauge({
      name: "pgmill_task_rate_limit_window_seconds",
      help: "The length of a rate-limited task's fixed window (defineTask rateLimit.per).",
      labelNames: ["task"],
      registers: r,
    });
    const databaseUp = new Gauge({ name: "pgmill_database_up", help: "Whether the database answered the last heartbeat.", registers: r });

    const self = this;
    // Queue gauges carry only this daemon's tasks as labels: any string can be
    // enqueued as a task name, and junk must not mint series. Jobs of other
    // tasks are counted, unlabelled, in pgmill_jobs_without_handler.
    const handled = new Set(options.tasks);
    const handledRows = async () => (await self.snapshot?.get())?.jobs.filter((row) => handled.has(row.task)) ?? null;
    const queueJobs = new Gauge({
      name: "pgmill_queue_jobs",
      help: "Jobs in graphile-worker by task and state (ready, scheduled, running), database-wide.",
      labelNames: ["task", "state"],
      registers: r,
      async collect() {
        const rows = await handledRows();
        if (!rows) return;
        // A task whose jobs are all gone has no row: it reads 0, not its last value.
        for (const task of handled) for (const state of QUEUE_STATES) this.set({ task, state }, 0);
        for (const row of rows) for (const state of QUEUE_STATES) this.set({ task: row.task, state }, row[state]);
      },
    });
    const oldestAge = new Gauge({
      name: "pgmill_queue_oldest_ready_age_seconds",
      help: "How long the oldest ready job of the task has waited, database-wide.",
      labelNames: ["task"],
      registers: r,
      async collect() {
        const rows = await handledRows();
        if (!rows) return;
        for (const task of handled) this.set({ task }, 0);
        for (const row of rows) this.set({ task: row.task }, row.oldestReadyAgeSeconds);
      },
    });
    new Gauge({
      name: "pgmill_jobs_without_handler",
      help: "Jobs waiting for a task this daemon has no handler for (they never run here); `pgmill status` names the tasks.",
      registers: r,
      async collect() {
        const snap = await self.snapshot?.get();
        if (!snap) return;
        const unhandled = snap.jobs.filter((row) => !handled.has(row.task));
        this.set(unhandled.reduce((sum, row) => sum + row.ready + row.scheduled, 0));
      },
    });
    const deadLetters = new Gauge({
      name: "pgmill_dead_letters",
      help: "Dead letters not yet retried, database-wide.",
      labelNames: ["task"],
      registers: r,
      async collect() {
        const snap = await self.snapshot?.get();
        if (!snap) return;
        // Retried letters leave no row: their task reads 0, and a task no longer pending drops out.
        this.reset();
        for (const task of handled) this.set({ task }, 0);
        for (const row of snap.deadLetters) this.set({ task: row.task }, row.pending);
      },
    });
    new Gauge({
      name: "pgmill_daemons_live",
      help: "Live daemons registered in the database.",
      registers: r,
      async collect() {
        const snap = await self.snapshot?.get();
        if (snap) this.set(snap.liveDaemons);
      },
    });

    // Pre-initialise: every task's series exist at zero from the first scrape.
    concurrency.set(options.concurrency);
    inFlight.set(0);
    restarts.inc(0);
    recovered.inc(0);
    databaseUp.set(0);
    for (const task of options.tasks) {
      started.inc({ task }, 0);
      oldestAge.set({ task }, 0);
      deadLetters.set({ task }, 0);
      for (const outcome of RUN_STATUSES) {
        finished.inc({ task, outcome }, 0);
        duration.zero({ task, outcome });
      }
      for (const reason of REASONS) moved.inc({ task, reason }, 0);
      for (const state of CANCELLED_STATES) cancelled.inc({ task, state }, 0);
      for (const reason of PARK_REASONS) parked.inc({ task, reason }, 0);
      paused.set({ task }, 0);
      for (const state of QUEUE_STATES) queueJobs.set({ task, state }, 0);
    }

    events.on("attempt:start", (task) => {
      started.inc({ task });
      inFlight.inc();
    });
    events.on("attempt:finish", (task, outcome, seconds) => {
      finished.inc({ task, outcome });
      duration.observe({ task, outcome }, seconds);
      inFlight.dec();
    });
    events.on("job:dead", (task, reason) => moved.inc({ task, reason }));
    // Any string can be a queued job's task name: only this daemon's tasks become label values.
    events.on("job:cancelled", (task, state) => cancelled.inc({ task: handled.has(task) ? task : "", state }));
    events.on("job:parked", (task, reason) => parked.inc({ task, reason }));
    // Only tasks this daemon runs are labels: any string can be paused.
    events.on("tasks:paused", (tasks) => {
      for (const task of handled) paused.set({ task }, tasks.includes(task) ? 1 : 0);
    });
    // Limited tasks are known once the daemon is assembled: their series start then, at zero held.
    events.on("tasks:limited", (limited) => {
      for (const { task, concurrency: slots, rate } of limited) {
        if (slots !== null) {
          concurrencyLimit.set({ task }, slots);
          slotsHeld.set({ task }, 0);
        }
        if (rate) {
          rateLimit.set({ task }, rate.max);
          rateWindow.set({ task }, rate.perMs / 1000);
        }
      }
    });
    events.on("task:slots", (task, held) => slotsHeld.set({ task }, held));
    events.on("ledger:batch", (rows, seconds) => {
      batchRows.observe(rows);
      batchSeconds.observe(seconds);
    });
    events.on("pool:restart", () => restarts.inc());
    events.on("db:pool:wait", (seconds) => {
      poolWaits.inc();
      poolWaitSeconds.inc(seconds);
    });
    events.on("reaped", (_daemons, jobs) => recovered.inc(jobs));
    events.on("database", (ok) => databaseUp.set(ok ? 1 : 0));
    // A line this daemon has not seen fire counts from when it was loaded.
    const knownLines = new Set<string>();
    events.on("cron:loaded", (identifiers) => {
      const now = Date.now() / 1000;
      // A line removed from the crontab stops reporting, or it would look stuck to alerts.
      for (const gone of [...knownLines].filter((id) => !identifiers.includes(id))) {
        knownLines.delete(gone);
        cronLast.remove({ identifier: gone });
      }
      for (const identifier of identifiers.filter((id) => !knownLines.has(id))) {
        knownLines.add(identifier);
        cronLast.set({ identifier }, now);
      }
    });
    events.on("cron:enqueued", (identifiers, at) => {
      for (const identifier of identifiers) cronLast.set({ identifier }, at.getTime() / 1000);
    });

    const overlapSkips = new Counter({
      name: "pgmill_cron_overlap_skips_total",
      help: "Ticks of ?overlap=skip crontab lines dropped because the previous run was still queued or running (counted by one daemon per tick; sum across replicas).",
      labelNames: ["identifier"],
      registers: r,
    });
    events.on("cron:overlap-lines", (identifiers) => {
      for (const identifier of identifiers) overlapSkips.inc({ identifier }, 0);
    });
    events.on("cron:overlap-skip", (identifier) => overlapSkips.inc({ identifier }));

    const cronPaused = new Gauge({
      name: "pgmill_cron_paused",
      help: "1 while the crontab line is paused (pgmill.pause_cron), else 0.",
      labelNames: ["identifier"],
      registers: r,
    });
    let pausedLines = new Set<string>();
    const showPaused = () => {
      for (const identifier of knownLines) cronPaused.set({ identifier }, pausedLines.has(identifier) ? 1 : 0);
    };
    events.on("cron:loaded", () => {
      cronPaused.reset();
      showPaused();
    });
    events.on("cron:paused", (identifiers) => {
      pausedLines = new Set(identifiers);
      showPaused();
    });
  }

  /** Queue gauges read the database through this once the daemon has one. */
  useSnapshot(snapshot: CachedSnapshot): void {
    this.snapshot = snapshot;
  }

  /** How many callers wait for a connection of the daemon's pool now. */
  usePoolWaiting(waiting: () => number): void {
    this.poolWaiting = waiting;
  }

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
