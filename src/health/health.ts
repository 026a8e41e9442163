import { monitorEventLoopDelay } from "node:perf_hooks";
import type { DaemonEvents, DaemonState } from "../daemon/daemon-events.js";
import type { EngineOperation } from "../engine/engine-failures.js";
import { FailureStreak } from "./failure-streak.js";

export interface Check {
  readonly ok: boolean;
  readonly detail: string;
}

export interface HealthReport {
  readonly status: "ok" | "failing";
  readonly checks: Readonly<Record<string, Check>>;
}

export interface HealthOptions {
  /** A heartbeat older than this many intervals means the loop is stuck. */
  readonly heartbeatIntervalMs: number;
  readonly now?: () => number;
}

const STALE_BEATS = 3;
/** Timers jitter on a busy machine; with very short intervals, three beats is too tight a window. */
const MIN_STALE_MS = 2_000;
/** An event loop that stalled this long since the last probe is not healthy. */
const MAX_EVENT_LOOP_DELAY_MS = 5_000;

/**
 * Liveness and readiness, from what the daemon reports on its events.
 * Liveness never asks the database: a Postgres outage must not get healthy
 * pods restarted. Readiness wants the database to have answered recently,
 * the schema current, the pool running, and the daemon not draining.
 */
export class Health {
  private state: DaemonState = "starting";
  private lastTick: number;
  private lastDatabaseAnswer = 0;
  private databaseError: string | null = "no answer yet";
  private migrationsCurrent = false;
  private poolRunning = false;
  private readonly now: () => number;
  private readonly engine: Record<EngineOperation, FailureStreak>;
  private readonly loopDelay: ReturnType<typeof monitorEventLoopDelay> = monitorEventLoopDelay({ resolution: 20 });

  constructor(
    events: DaemonEvents,
    private readonly options: HealthOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.lastTick = this.now();
    this.engine = { fetch: new FailureStreak(this.now), complete: new FailureStreak(this.now) };
    this.loopDelay.enable();
    events.on("state", (state) => (this.state = state));
    events.on("heartbeat", () => (this.lastTick = this.now()));
    events.on("database", (ok, error) => {
      if (ok) this.lastDatabaseAnswer = this.now();
      this.databaseError = error;
    });
    events.on("migrations", (current) => (this.migrationsCurrent = current));
    events.on("pool:running", (running) => (this.poolRunning = running));
    events.on("engine:failure", (operation, message) => this.engine[operation].failed(message));
    events.on("engine:success", (operation) => this.engine[operation].succeeded());
  }

  /** Stops measuring the event loop (tests, shutdown). */
  close(): void {
    this.loopDelay.disable();
  }

  private staleAfterMs(): number {
    return Math.max(MIN_STALE_MS, this.options.heartbeatIntervalMs * STALE_BEATS);
  }

  liveness(): HealthReport {
    const sinceTick = this.now() - this.lastTick;
    const stale = this.staleAfterMs();
    // Before the heartbeat starts (start-up) the loop cannot be stale yet.
    const loopAlive = this.state === "starting" || this.state === "stopped" || sinceTick <= stale;
    const worstDelayMs = this.loopDelay.max / 1e6;
    this.loopDelay.reset();
    return report({
      heartbeat_loop: { ok: loopAlive, detail: `last tick ${Math.round(sinceTick)}ms ago (limit ${stale}ms)` },
      event_loop: {
        ok: worstDelayMs <= MAX_EVENT_LOOP_DELAY_MS,
        detail: `worst delay since the last probe ${Math.round(worstDelayMs)}ms (limit ${MAX_EVENT_LOOP_DELAY_MS}ms)`,
      },
    });
  }

  readiness(): HealthReport {
    const sinceAnswer = this.now() - this.lastDatabaseAnswer;
    const fresh = this.staleAfterMs();
    const databaseOk = this.lastDatabaseAnswer > 0 && sinceAnswer <= fresh && this.databaseError === null;
    return report({
      daemon: { ok: this.state === "running", detail: this.state },
      database: {
        ok: databaseOk,
        detail: databaseOk ? `answered ${Math.round(sinceAnswer)}ms ago` : (this.databaseError ?? `no answer for ${Math.round(sinceAnswer)}ms`),
      },
      migrations: { ok: this.migrationsCurrent, detail: this.migrationsCurrent ? "current" : "not yet applied" },
      pool: { ok: this.poolRunning, detail: this.poolRunning ? "running" : "not running" },
      engine: this.engineCheck(),
    });
  }

  /** The engine's own fetches and completions: the database can answer the heartbeat while these fail (a pooler in between). */
  private engineCheck(): Check {
    const verbs: Record<EngineOperation, string> = { fetch: "fetching jobs", complete: "completing jobs" };
    const failing = (Object.keys(verbs) as EngineOperation[]).flatMap((operation) => {
      const streak = this.engine[operation].failing();
      return streak ? [`${verbs[operation]} has failed for ${Math.round(streak.forMs / 1000)}s (last: ${streak.message})`] : [];
    });
    return { ok: failing.length === 0, detail: failing.length ? failing.join("; ") : "fetches and completions working" };
  }
}

function report(checks: Record<string, Check>): HealthReport {
  return { status: Object.values(checks).every((c) => c.ok) ? "ok" : "failing", checks };
}
