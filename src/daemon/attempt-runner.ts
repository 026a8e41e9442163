import { randomUUID } from "node:crypto";
import type { Config } from "../config/config.js";
import type { ClaimedJob } from "../engine/task-list.js";
import type { Logger } from "../logging/logger.js";
import type { Ledger } from "../ledger/ledger.js";
import { payloadForHistory, type DeadLetterRecord } from "../ledger/entry.js";
import type { AnyTask, JobInfo } from "../tasks/define-task.js";
import type { DaemonEvents } from "./daemon-events.js";
import {
  AttemptTimeoutError,
  PayloadInvalidError,
  RETRYING_STATUSES,
  classify,
  type AttemptOutcome,
} from "./attempt-outcome.js";

interface InFlight {
  readonly job: ClaimedJob;
  readonly startedAt: Date;
  readonly started: number;
  /** The handler's signal: aborted by the engine's signal, a second signal (abortAll) or the task's timeout. */
  readonly abort: AbortController;
  /** Set once a history row exists for this attempt, so it is written once. */
  recorded: boolean;
}

/**
 * Runs attempts of claimed jobs and keeps the ledger: every attempt's
 * history row is durable before the job is completed (handler returned, or the
 * job moved to dead letters) or failed (thrown, so the engine retries it
 * with its exponential backoff).
 */
export class AttemptRunner {
  private readonly inFlight = new Set<InFlight>();
  private readonly followedSignals = new WeakSet<AbortSignal>();

  constructor(
    private readonly deps: {
      readonly ledger: Ledger;
      readonly logger: Logger;
      readonly daemonId: string;
      /** Handlers get it too, as `context.config`. */
      readonly config: Config;
      readonly events: DaemonEvents;
    },
  ) {}

  get runningCount(): number {
    return this.inFlight.size;
  }

  /** Runs one attempt of a claimed job: resolves to complete it, throws to fail it (the engine retries). */
  run(tasks: Readonly<Record<string, AnyTask>>, job: ClaimedJob): Promise<void> {
    return this.attempt(tasks[job.task]!, job);
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
  async recordAbandoned(reason: string): Promise<number> {
    const writes: Promise<void>[] = [];
    for (const attempt of this.inFlight) {
      if (attempt.recorded) continue;
      attempt.recorded = true;
      const outcome = classify({ error: new Error(reason) }, null, attempt.job.attempt >= attempt.job.maxAttempts);
      writes.push(this.record(attempt, outcome));
    }
    await Promise.allSettled(writes);
    return writes.length;
  }

  private async attempt(task: AnyTask, job: ClaimedJob): Promise<void> {
    const attempt: InFlight = { job, startedAt: new Date(), started: performance.now(), abort: new AbortController(), recorded: false };
    this.inFlight.add(attempt);
    this.followEngine(job.engineSignal);
    this.deps.events.emit("attempt:start", task.name);
    try {
      const outcome = await this.execute(task, attempt);
      // Abandoned at shutdown and already recorded; the engine released it.
      if (attempt.recorded) throw new Error("attempt abandoned at shutdown");
      attempt.recorded = true;
      await this.record(attempt, outcome);
      // Thrown => the engine fails the job and schedules the retry.
      if (RETRYING_STATUSES.has(outcome.status) && "error" in outcome) throw outcome.error;
    } finally {
      this.inFlight.delete(attempt);
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
      await task.handler(parsed.data, { signal: attempt.abort.signal, logger, job: info, config: this.deps.config });
    } catch (error) {
      thrown = { error };
    } finally {
      clearTimeout(timer);
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

  private async record(attempt: InFlight, outcome: AttemptOutcome): Promise<void> {
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
            daemonId: this.deps.daemonId,
          }
        : undefined;
    await this.deps.ledger.write({
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
        daemonId: this.deps.daemonId,
        payload: payloadForHistory(this.deps.config.historyPayload, job.storedPayload),
      },
      ...(deadLetter ? { deadLetter } : {}),
    });
    this.deps.events.emit("attempt:finish", job.task, outcome.status, durationMs / 1000);
    if (outcome.status === "dead") this.deps.events.emit("job:dead", job.task, outcome.reason);
    this.logOutcome(attempt, outcome, durationMs);
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
    else if (outcome.status === "dead") this.deps.logger.error(fields, "job moved to dead letters");
    else this.deps.logger.warn(fields, `attempt ${outcome.status.replace("_", " ")}; will retry`);
  }
}
