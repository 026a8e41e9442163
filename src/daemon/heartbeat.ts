import { hostname } from "node:os";
import { sql } from "kysely";
import type { Db } from "../db/database.js";
import type { DaemonRowState } from "../db/schema.js";
import type { Logger } from "../logging/logger.js";
import { VERSION } from "../version.js";
import type { DaemonEvents } from "./daemon-events.js";
import type { DaemonIdentity } from "./identity.js";
import type { Lease } from "./lease.js";
import type { Reaper } from "./reaper.js";

export interface HeartbeatStatus {
  state(): DaemonRowState;
  jobsInFlight(): number;
  workerIds(): string[];
}

/**
 * Registers this daemon in `pgmill.daemons` and beats every interval. Each
 * beat that finds the row alive renews the lease; one that finds it reaped
 * hands over to `onReaped` (a new identity). After a beat, and never in its
 * way, the reaper runs, so any live daemon recovers the jobs of a dead one,
 * but only once this daemon's own beats have succeeded without a gap for
 * dead-after: after an outage every survivor gets to beat before anyone
 * judges a peer by its `last_seen`. The loop keeps ticking while the
 * database is down (liveness does not depend on it); each tick reports
 * whether the database answered.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  private reaping: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly db: Db,
    private readonly identity: DaemonIdentity,
    private readonly timing: { readonly intervalMs: number; readonly deadAfterMs: number },
    private readonly status: HeartbeatStatus,
    private readonly lease: Lease,
    private readonly reaper: Reaper,
    private readonly onReaped: () => Promise<void>,
    private readonly events: DaemonEvents,
    private readonly logger: Logger,
  ) {}

  /** Registration of the current identity: at start-up (and on rejoining), before any job is taken. */
  async register(): Promise<void> {
    const sentAt = performance.now();
    await this.upsert();
    this.lease.confirm(sentAt);
    this.events.emit("database", true, null);
  }

  start(): void {
    this.events.emit("heartbeat");
    this.timer = setInterval(() => {
      // The loop ticking is what liveness watches, whatever the database does:
      // a beat stuck on a black-holed connection must not get the pod restarted.
      this.events.emit("heartbeat");
      void this.beat();
    }, this.timing.intervalMs);
  }

  /** Writes the current status now (say, a new pool id or state) rather than at the next beat. */
  async beat(): Promise<void> {
    // One beat at a time, so a slow database does not pile them up; asked for
    // during one, it runs once more after it, so no change waits for the next tick.
    if (this.beating) {
      this.again = true;
      return this.beating;
    }
    this.beating = (async () => {
      do {
        this.again = false;
        await this.beatOnce();
      } while (this.again && this.timer);
    })().finally(() => (this.beating = null));
    return this.beating;
  }

  /** Last word at shutdown: stopped, so no peer reaps us. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    await this.reaping;
    await this.db
      .updateTable("pgmill.daemons")
      .set({ state: "stopped", last_seen: sql<Date>`now()`, jobs_in_flight: 0 })
      .where("id", "=", this.identity.id)
      .where("state", "!=", "dead")
      .execute()
      .catch((error: unknown) => this.logger.warn({ err: error }, "could not record this daemon as stopped"));
  }

  private async beatOnce(): Promise<void> {
    const sentAt = performance.now();
    try {
      const updated = await this.db
        .updateTable("pgmill.daemons")
        .set({
          last_seen: sql<Date>`now()`,
          state: this.status.state(),
          jobs_in_flight: this.status.jobsInFlight(),
          worker_ids: this.status.workerIds(),
        })
        .where("id", "=", this.identity.id)
        .where("state", "!=", "dead")
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
        // A peer took us for dead (a long pause or a partition) and released our jobs.
        this.lease.lose();
        await this.onReaped();
      } else {
        this.lease.confirm(sentAt);
      }
      this.events.emit("database", true, null);
    } catch (error) {
      this.lease.fail();
      this.events.emit("database", false, error instanceof Error ? error.message : String(error));
      return;
    }
    this.reapWhenSteady();
  }

  /**
   * Runs the reaper beside the beats (a slow reap must not delay `last_seen`):
   * peers only once beats are steady; this daemon's own stopped pools at once.
   */
  private reapWhenSteady(): void {
    if (this.reaping) return;
    const steady = this.lease.steadyForMs() >= this.timing.deadAfterMs;
    this.reaping = (steady ? this.reaper.reap() : this.reaper.releaseRetired())
      .then(() => undefined)
      .catch((error: unknown) => this.logger.warn({ err: error }, "reaping dead daemons failed; will retry"))
      .finally(() => (this.reaping = null));
  }

  private async upsert(): Promise<void> {
    const row = {
      id: this.identity.id,
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
        // The same identity registering again (rejoining takes a new one, so a
        // reaped row, and the record of its reaping, is never overwritten).
        oc
          .column("id")
          .doUpdateSet({ state: row.state, worker_ids: row.worker_ids, last_seen: sql<Date>`now()` })
          .where("pgmill.daemons.state", "!=", "dead"),
      )
      .execute();
  }
}
