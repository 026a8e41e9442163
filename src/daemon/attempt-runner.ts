import { randomUUID } from "node:crypto";
import type { Config } from "../config/config.js";
import type { ClaimedJob } from "../engine/task-list.js";
import type { Logger } from "../logging/logger.js";
import type { Ledger } from "../ledger/ledger.js";
import { payloadForHistory, staleEntry, type DeadLetterRecord, type LedgerEntry, type Recorded } from "../ledger/entry.js";
import type { AnyTask, JobInfo } from "../tasks/define-task.js";
import { JobCancelledError } from "../controls/job-cancelled-error.js";
import { JobParkedError, type Parking } from "../controls/parking.js";
import { retryDelayMs, retryScheduleOf, type RetrySchedule } from "../controls/retry-schedule.js";
import type { ParkReason, TaskGate } from "../controls/task-gate.js";
import type { SharedHandlerContext } from "./handler-resources.js";
import type { DaemonEvents } from "./daemon-events.js";
import type { DaemonIdentity } from "./identity.js";
import type { Lease } from "./lease.js";
import {
  AttemptTimeoutError,
  PayloadInvalidError,
  RETRYING_STATUSES,
  classify,
  type AttemptOutcome,
} from "./attempt-outcome.js";

interface InFlight {
  readonly job: ClaimedJob;
  /** The daemon identity and lease epoch it was claimed under: a reaped epoch never completes it. */
  readonly daemonId: string;
  readonly epoch: number;
  readonly startedAt: Date;
  readonly started: number;
  /** The handler's signal: aborted by the engine's signal, a second signal (abortAll) or the task's timeout. */
  readonly abort: AbortController;
  /** The task's own retry schedule, if it has one. */
  readonly retry: RetrySchedule | null;
  /** Set once a history row exists for this attempt, so it is written once. */
  recorded: boolean;
  /** Set when the handler has settled: a cancel after that changes nothing. */
  settled: boolean;
  /** An operator's cancel that reached the attempt before its handler settled: its outcome is `cancelled`. */
  cancel?: JobCancelledError;
  /**
   * The write of its history row, once under way (by the attempt, or by a
   * shutdown that abandoned it): neither the engine nor the shutdown's release
   * may free the job before it, or the row's lock check reads `stale`.
   */
  row?: Promise<Recorded>;
}

/**
 * Runs attempts of claimed jobs and keeps the ledger: every attempt's
 * history row is durable before the job is completed (handler returned, or the
 * job moved to dead letters) or failed (thrown, so the engine retries it
 * with its exponential backoff).
 *
 * Fencing: an attempt starts, and its outcome is applied, only while the
 * lease confirms this daemon still holds its locks. An outcome that comes too
 * late (the daemon was reaped meanwhile) is recorded as `stale` and thrown, so
 * the engine's lock-checked failure leaves the job to whoever holds it now.
 */
export class AttemptRunner {
  private readonly inFlight = new Set<InFlight>();
  private readonly followedSignals = new WeakSet<AbortSignal>();

  constructor(
    private readonly deps: {
      readonly ledger: Ledger;
      readonly logger: Logger;
      readonly identity: DaemonIdentity;
      readonly lease: Lease;
      readonly config: Config;
      /** Settings, `withPgClient` and `addJob`: the context every handler shares. */
      readonly handlers: SharedHandlerContext;
      readonly events: DaemonEvents;
      /** A cancel of this job pending at the cancel watcher's last poll: such an attempt never starts its handler. */
      readonly pendingCancel?: (jobId: string) => JobCancelledError | undefined;
      /** Asked before every handler runs: admit, or park the job unrun (paused task, a limit). */
      readonly gate: TaskGate;
      readonly parking: Parking;
    },
  ) {}

  get runningCount(): number {
    return this.inFlight.size;
  }

  /** Runs one attempt of a claimed job: resolves to complete it, throws to fail it (the engine retries). */
  run(tasks: Readonly<Record<string, AnyTask>>, job: ClaimedJob): Promise<void> {
    return this.attempt(tasks[job.task]!, job);
  }

  /** The ids of the jobs whose attempts run here now (the cancel watcher asks for these). */
  runningJobIds(): string[] {
    return [...this.inFlight].map((attempt) => attempt.job.id);
  }

  /**
   * An operator cancelled this job: abort its attempt's signal with a
   * JobCancelledError. Its outcome becomes `cancelled` unless its handler has
   * already settled or its row is written (say, by a shutdown abandoning it):
   * one row per attempt. Returns whether an attempt took the cancel.
   */
  cancel(jobId: string, reason: JobCancelledError): boolean {
    let taken = false;
    for (const attempt of this.inFlight) {
      if (attempt.job.id !== jobId || attempt.settled || attempt.recorded || attempt.cancel) continue;
      attempt.cancel = reason;
      // Already aborted (a timeout, the drain budget): the cancel still decides the outcome.
      attempt.abort.abort(reason);
      taken = true;
    }
    return taken;
  }

  /** Second-signal shutdown: abort every handler now. */
  abortAll(reason: string): void {
    for (const attempt of this.inFlight) attempt.abort.abort(new Error(reason));
  }

  /**
   * Before the engine force-releases the jobs still running at shutdown:
   * write their history rows now (the process is about to exit), as failed, or
   * dead with a dead letter if it was their last attempt.
   */
  async recordAbandoned(reason: string): Promise<Set<string>> {
    const writes: Promise<Recorded>[] = [];
    const jobIds = new Set<string>();
    for (const attempt of this.inFlight) {
      jobIds.add(attempt.job.id);
      if (attempt.recorded) {
        // Its handler settled just before (a second signal aborted it): let that
        // row land while this daemon still holds the lock, or it would read `stale`.
        if (attempt.row) writes.push(attempt.row);
        continue;
      }
      attempt.recorded = true;
      const outcome = attempt.cancel
        ? cancelledOutcome(attempt.cancel, "the daemon shut down before its handler settled")
        : classify({ error: new Error(reason) }, null, attempt.job.attempt >= attempt.job.maxAttempts);
      // No waiting on the lease here: the process is leaving. The ledger's lock check still applies.
      attempt.row = this.record(attempt, outcome, { waitForLease: false });
      writes.push(attempt.row);
    }
    await Promise.allSettled(writes);
    return jobIds;
  }

  private async attempt(task: AnyTask, job: ClaimedJob): Promise<void> {
    const { lease, identity } = this.deps;
    const epoch = lease.epoch;
    const daemonId = identity.id;
    // Start nothing this daemon cannot prove it still holds (after a pause, say).
    const holds = identity.owns(job.lockedBy) && (await lease.confirmed(epoch, job.engineSignal));
    if (!holds && (lease.epoch !== epoch || !identity.owns(job.lockedBy))) {
      // Claimed by an identity a peer reaped (it waited in the local queue, or
      // here for a beat): it never ran, the reaper recorded it `lost`, and the
      // engine's failure of it checks the lock, so it is a no-op.
      throw new StaleAttemptError("not started: a peer reaped this daemon and released the job");
    }
    // A cancelled job is recorded cancelled, never parked.
    const cancel = holds ? this.deps.pendingCancel?.(job.id) : undefined;
    const gateFailure = holds && !cancel ? await this.admitOrPark(task, job) : null;
    const admitted = holds && !cancel && !gateFailure;
    const attempt: InFlight = {
      job,
      daemonId,
      epoch,
      startedAt: new Date(),
      started: performance.now(),
      abort: new AbortController(),
      retry: retryScheduleOf(task),
      recorded: false,
      settled: false,
      cancel,
    };
    this.inFlight.add(attempt);
    this.followEngine(job.engineSignal);
    this.deps.events.emit("attempt:start", task.name);
    try {
      const outcome =
        !holds || gateFailure
          ? classify(
              { error: gateFailure ?? new Error("not started: the daemon shut down before it could confirm it holds the job's lock") },
              null,
              job.attempt >= job.maxAttempts,
            )
          : attempt.cancel
            ? cancelledOutcome(attempt.cancel, "before its handler started")
            : await this.execute(task, attempt);
      // Abandoned at shutdown and recorded there. The throw lets the engine
      // fail (release) the job, so only once that row's lock check is done;
      // a cancelled one is completed instead, so it is not run again.
      if (attempt.recorded) {
        const recorded = await attempt.row?.catch(() => undefined);
        if (attempt.cancel && recorded === "recorded") return;
        throw new Error("attempt abandoned at shutdown");
      }
      attempt.recorded = true;
      attempt.row = this.record(attempt, outcome, { waitForLease: true });
      const recorded = await attempt.row;
      if (recorded === "stale") throw new StaleAttemptError(`outcome not applied (${outcome.status}): this daemon no longer holds the job's lock`);
      if (attempt.retry && RETRYING_STATUSES.has(outcome.status)) this.deps.parking.retryRequested();
      // Thrown => the engine fails the job and schedules the retry.
      if (RETRYING_STATUSES.has(outcome.status) && "error" in outcome) throw outcome.error;
    } finally {
      this.inFlight.delete(attempt);
      if (admitted) await this.releaseGate(job, task);
    }
  }

  /**
   * Asks the gate; a parked job is handed back unrun (no history row, its
   * attempt restored once the request is applied) by throwing. A gate or park
   * that fails (the database, a check's bug) returns the error: the attempt is
   * then recorded as failed with it, as if its handler had thrown, so it is
   * seen and retried rather than spent silently.
   */
  private async admitOrPark(task: AnyTask, job: ClaimedJob): Promise<Error | null> {
    let reason: ParkReason;
    try {
      const verdict = await this.deps.gate.admit(job, task);
      if (verdict.admit) return null;
      reason = verdict.reason;
      if (!(await this.deps.parking.park(job, verdict, this.deps.identity.lockIds))) {
        throw new StaleAttemptError("not parked: this daemon no longer holds the job's lock");
      }
    } catch (error) {
      if (error instanceof StaleAttemptError) throw error;
      return new Error(`not started: the task gate failed (${error instanceof Error ? error.message : String(error)})`, { cause: error });
    }
    this.deps.events.emit("job:parked", job.task, reason);
    throw new JobParkedError(reason);
  }

  private async releaseGate(job: ClaimedJob, task: AnyTask): Promise<void> {
    try {
      await this.deps.gate.finished(job, task);
    } catch (error) {
      this.deps.logger.warn({ err: error, task: job.task, jobId: job.id }, "a task gate check could not release a finished attempt");
    }
  }

  private async execute(task: AnyTask, attempt: InFlight): Promise<AttemptOutcome> {
    const { job } = attempt;
    const isLastAttempt = job.attempt >= job.maxAttempts;
    const parsed = task.payload.safeParse(job.input);
    if (!parsed.success) {
      return { status: "dead", reason: "invalid_payload", error: new PayloadInvalidError(task.name, parsed.error.issues) };
    }
    const info: JobInfo = {
      id: job.id,
      task: task.name,
      queue: job.queue,
      key: job.key,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      priority: job.priority,
      runAt: job.runAt,
      createdAt: job.createdAt,
      cron: job.cron,
    };
    const logger = this.deps.logger.child({ task: task.name, jobId: job.id, attempt: job.attempt });
    let timedOut = false;
    const timer = task.timeout
      ? setTimeout(() => {
          timedOut = !attempt.abort.signal.aborted;
          attempt.abort.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
        }, task.timeout)
      : undefined;
    let thrown: { error: unknown } | null = null;
    try {
      // Awaited to the end even after an abort: the pool slot stays taken until
      // the handler has settled, so the concurrency bound holds.
      await task.handler(parsed.data, { ...this.deps.handlers, signal: attempt.abort.signal, logger, job: info });
    } catch (error) {
      thrown = { error };
    } finally {
      attempt.settled = true;
      clearTimeout(timer);
    }
    if (attempt.cancel) {
      return cancelledOutcome(attempt.cancel, thrown ? "its handler threw after the abort" : "its handler returned after the abort");
    }
    const timeout = timedOut ? new AttemptTimeoutError(task.timeout!, thrown?.error) : null;
    if (thrown && !timeout && job.engineSignal.aborted) {
      thrown = { error: new Error("interrupted: the daemon shut down and the drain budget ran out", { cause: thrown.error }) };
    }
    return classify(thrown, timeout, isLastAttempt);
  }

  /**
   * The engine has one abort signal per pool, aborted when the drain
   * budget is spent; it reaches each attempt's own controller through one
   * listener per pool (not AbortSignal.any per attempt: a tenth of a busy
   * daemon's CPU, bench/README.md).
   */
  private followEngine(engineSignal: AbortSignal): void {
    const abortItsAttempts = () => {
      for (const attempt of this.inFlight) {
        if (attempt.job.engineSignal === engineSignal) attempt.abort.abort(engineSignal.reason);
      }
    };
    if (engineSignal.aborted) return abortItsAttempts();
    if (this.followedSignals.has(engineSignal)) return;
    this.followedSignals.add(engineSignal);
    engineSignal.addEventListener("abort", abortItsAttempts, { once: true });
  }

  /**
   * Writes the attempt's history row (and dead letter). Within the lease (waiting
   * for a beat to confirm it if need be) the ledger applies it if the job's lock
   * is still this daemon's; past a reaping it is written as `stale`.
   */
  private async record(attempt: InFlight, outcome: AttemptOutcome, options: { waitForLease: boolean }): Promise<Recorded> {
    const entry = this.entryOf(attempt, outcome);
    const holds = !options.waitForLease || (await this.deps.lease.confirmed(attempt.epoch));
    const heldBy = this.deps.identity.lockIds;
    const recorded: Recorded = holds ? await this.deps.ledger.write({ ...entry, heldBy }) : "stale";
    if (!holds) await this.deps.ledger.write(staleEntry(entry));
    const durationMs = entry.run.durationMs;
    const { job } = attempt;
    if (recorded === "stale") {
      this.deps.events.emit("attempt:finish", job.task, "stale", durationMs / 1000);
      this.deps.logger.warn(
        { task: job.task, jobId: job.id, attempt: job.attempt, outcome: outcome.status },
        "attempt finished after this daemon lost the job's lock; recorded as stale, outcome not applied",
      );
      return recorded;
    }
    this.deps.events.emit("attempt:finish", job.task, outcome.status, durationMs / 1000);
    if (outcome.status === "dead") this.deps.events.emit("job:dead", job.task, outcome.reason);
    if (outcome.status === "cancelled") this.deps.events.emit("job:cancelled", job.task, "running");
    this.logOutcome(attempt, outcome, durationMs);
    return recorded;
  }

  private entryOf(attempt: InFlight, outcome: AttemptOutcome): LedgerEntry {
    const { job } = attempt;
    const finishedAt = new Date();
    const durationMs = performance.now() - attempt.started;
    const error = "error" in outcome ? { message: outcome.error.message, stack: outcome.error.stack ?? null } : null;
    const deadLetter: DeadLetterRecord | undefined =
      outcome.status === "dead"
        ? {
            jobId: job.id,
            jobRevision: job.revision,
            task: job.task,
            payload: job.storedPayload,
            queue: job.queue,
            priority: job.priority,
            jobKey: job.key,
            flags: job.flags,
            attempts: job.attempt,
            maxAttempts: job.maxAttempts,
            jobCreatedAt: job.createdAt,
            reason: outcome.reason,
            daemonId: attempt.daemonId,
          }
        : undefined;
    // The task's own schedule: the next try at finish + delay (the engine's own failure sets another run_at, which this replaces).
    const retryAt =
      attempt.retry && RETRYING_STATUSES.has(outcome.status)
        ? new Date(finishedAt.getTime() + retryDelayMs(attempt.retry, job.attempt))
        : null;
    return {
      ...(retryAt ? { reschedule: { runAt: retryAt, attempts: null, reason: "retry" as const } } : {}),
      run: {
        id: randomUUID(),
        jobId: job.id,
        task: job.task,
        queue: job.queue,
        jobKey: job.key,
        attempt: job.attempt,
        maxAttempts: job.maxAttempts,
        status: outcome.status,
        error,
        startedAt: attempt.startedAt,
        finishedAt,
        durationMs,
        daemonId: attempt.daemonId,
        payload: payloadForHistory(this.deps.config.historyPayload, job.storedPayload),
      },
      ...(deadLetter ? { deadLetter } : {}),
    };
  }

  private logOutcome(attempt: InFlight, outcome: AttemptOutcome, durationMs: number): void {
    const { job } = attempt;
    const fields = {
      task: job.task,
      jobId: job.id,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      status: outcome.status,
      durationMs: Math.round(durationMs * 1000) / 1000,
      ...("reason" in outcome ? { deadLetterReason: outcome.reason } : {}),
      ...("error" in outcome ? { error: outcome.error.message } : {}),
      ...(this.deps.config.logPayloads ? { payload: job.storedPayload } : {}),
    };
    if (outcome.status === "succeeded") this.deps.logger.info(fields, "attempt succeeded");
    else if (outcome.status === "cancelled") this.deps.logger.warn(fields, "attempt cancelled; the job is completed, not retried");
    else if (outcome.status === "dead") this.deps.logger.error(fields, "job moved to dead letters");
    else this.deps.logger.warn(fields, `attempt ${outcome.status.replace("_", " ")}; will retry`);
  }
}

/** An attempt this daemon may no longer act on: thrown so the engine's lock-checked failure leaves the job alone. */
export class StaleAttemptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StaleAttemptError";
  }
}

/** A cancelled attempt's outcome; `how` says how its handler ended, for the row's error message. */
function cancelledOutcome(cancel: JobCancelledError, how: string): AttemptOutcome {
  const error = new JobCancelledError(cancel.requestedBy, cancel.requestedAt);
  error.message = `${cancel.message}; ${how}`;
  return { status: "cancelled", error };
}
