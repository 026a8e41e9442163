import { hostname } from "node:os";
import { sql } from "kysely";
import type { Db } from "../db/database.js";
import type { DaemonRowState } from "../db/schema.js";
import type { Logger } from "../logging/logger.js";
import { VERSION } from "../version.js";
import type { DaemonEvents } from "./daemon-events.js";
import type { Reaper } from "./reaper.js";

export interface HeartbeatStatus {
  state(): DaemonRowState;
  jobsInFlight(): number;
  workerIds(): string[];
}

/**
 * Registers this daemon in `pgmill.daemons` and beats every interval; each beat
 * also runs the reaper, so any live daemon recovers the jobs of a dead one.
 * The loop keeps ticking while the database is down (liveness does not depend
 * on it); each tick reports whether the database answered.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly daemonId: string,
    private readonly intervalMs: number,
    private readonly status: HeartbeatStatus,
    private readonly reaper: Reaper,
    private readonly events: DaemonEvents,
    private readonly logger: Logger,
  ) {}

  /** First registration: at start-up, before any job is taken. */
  async register(): Promise<void> {
    await this.upsert();
    this.events.emit("database", true, null);
  }

  start(): void {
    this.events.emit("heartbeat");
    this.timer = setInterval(() => {
      // The loop ticking is what liveness watches, whatever the database does:
      // a beat stuck on a black-holed connection must not get the pod restarted.
      this.events.emit("heartbeat");
      void this.beat();
    }, this.intervalMs);
  }

  /** Writes the current status now (say, a new pool id) rather than at the next beat. */
  async beat(): Promise<void> {
    // One beat at a time; a slow database must not pile them up.
    if (this.beating) return this.beating;
    this.beating = this.beatOnce().finally(() => (this.beating = null));
    return this.beating;
  }

  /** Last word at shutdown: stopped, so no peer reaps us. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    await this.db
      .updateTable("pgmill.daemons")
      .set({ state: "stopped", last_seen: sql<Date>`now()`, jobs_in_flight: 0 })
      .where("id", "=", this.daemonId)
      .execute()
      .catch((error: unknown) => this.logger.warn({ err: error }, "could not record this daemon as stopped"));
  }

  private async beatOnce(): Promise<void> {
    try {
      const updated = await this.db
        .updateTable("pgmill.daemons")
        .set({
          last_seen: sql<Date>`now()`,
          state: this.status.state(),
          jobs_in_flight: this.status.jobsInFlight(),
          worker_ids: this.status.workerIds(),
        })
        .where("id", "=", this.daemonId)
        .where("state", "!=", "dead")
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
        // A peer took us for dead (a long pause or a partition) and released our jobs.
        this.logger.error(
          { daemonId: this.daemonId },
          "this daemon was marked dead by a peer and its jobs were released; registering again",
        );
        await this.upsert();
      }
      this.events.emit("database", true, null);
    } catch (error) {
      this.events.emit("database", false, error instanceof Error ? error.message : String(error));
      return;
    }
    await this.reaper.reap().catch((error: unknown) => this.logger.warn({ err: error }, "reaping dead daemons failed; will retry"));
  }

  private async upsert(): Promise<void> {
    const row = {
      id: this.daemonId,
      host: hostname(),
      pid: process.pid,
      version: VERSION,
      worker_ids: this.status.workerIds(),
      state: this.status.state(),
      jobs_in_flight: this.status.jobsInFlight(),
    };
    await this.db
      .insertInto("pgmill.daemons")
      .values(row)
      .onConflict((oc) =>
        oc.column("id").doUpdateSet({
          state: row.state,
          worker_ids: row.worker_ids,
          last_seen: sql<Date>`now()`,
          reaped_by: null,
          reaped_at: null,
        }),
      )
      .execute();
  }
}
