import { EventEmitter } from "node:events";
import { run, type Runner, type RunnerOptions, type WorkerEvents } from "graphile-worker";
import type { Logger } from "../logging/logger.js";

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;

/**
 * Keeps a graphile-worker runner alive. A runner can stop by itself (with
 * batching on, a database error while completing jobs ends the pool); the
 * supervisor logs it and starts a new one with exponential backoff. It never
 * gives up and never exits the process: only `stop()` ends it.
 */
export class PoolSupervisor {
  readonly events: WorkerEvents = new EventEmitter() as WorkerEvents;
  private runner: Runner | null = null;
  private stopping = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private restarts = 0;

  constructor(
    private readonly options: (events: WorkerEvents) => RunnerOptions,
    private readonly logger: Logger,
    private readonly report: { restarted(restarts: number): void; running(running: boolean): void },
  ) {}

  get running(): boolean {
    return this.runner !== null;
  }

  get restartCount(): number {
    return this.restarts;
  }

  /** Starts the first runner; resolves once it is up (retrying until it is). */
  async start(): Promise<void> {
    while (!this.stopping && !this.runner) {
      await this.launch();
      if (!this.runner && !this.stopping) await this.backoff();
    }
  }

  /** Graceful stop: cron and fetching stop, running jobs drain (see engine options). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const runner = this.runner;
    if (runner) await runner.stop().catch((error) => this.logger.warn({ err: error }, "runner stop reported an error"));
  }

  /** Forceful stop: graphile-worker fails (releases) the jobs still running so another daemon can take them. */
  async kill(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.runner?.kill("pgmill forced shutdown").catch((error) => this.logger.warn({ err: error }, "runner kill reported an error"));
  }

  private async launch(): Promise<void> {
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
