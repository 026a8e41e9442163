import { randomUUID } from "node:crypto";
import { sql, type Transaction } from "kysely";
import type { Db } from "../db/database.js";
import type { Database } from "../db/schema.js";
import { forgetRequests, jobsRecordedCancelled, pendingCancelsOf } from "../controls/cancel-queries.js";
import { JobCancelledError } from "../controls/job-cancelled-error.js";
import { moveToDeadLetters } from "../dead-letters/move-to-dead-letters.js";
import { jobsLockedBy } from "../engine/job-reads.js";
import { releaseLocks, removeUnlockedJobs } from "../engine/job-writes.js";
import { applyReschedulesOf, jobsWithPendingReschedule } from "../engine/job-reschedules.js";
import { releaseDaemonTaskSlots } from "../controls/task-limit-queries.js";
import { jobRunRow } from "../ledger/rows.js";
import type { Logger } from "../logging/logger.js";
import type { DaemonEvents } from "./daemon-events.js";
import type { DaemonIdentity } from "./identity.js";

export interface ReapResult {
  readonly daemons: string[];
  readonly jobs: number;
}

/**
 * Recovers the jobs of daemons that stopped heartbeating (kill -9, OOM, a lost
 * node), in one transaction per pass:
 * 1. marks every peer silent for longer than `deadAfterMs` as dead; the
 *    conditional UPDATE makes a concurrent reaper skip rows already taken,
 *    so nothing is reaped twice;
 * 2. writes a `lost` history row for each job those peers held;
 * 3. releases them with the engine's `force_unlock_workers`, so any daemon
 *    runs them again now rather than after its four-hour lock timeout;
 * 4. dead-letters (reason `daemon_lost`) those that were on their last attempt,
 *    since graphile-worker would never run them again;
 * 5. removes the jobs an operator cancelled (pgmill.cancel_job) meanwhile,
 *    their attempt recorded `cancelled` rather than `lost`: a released
 *    cancelled job must never be seen unlocked, or a daemon would run it again.
 * The jobs still locked by a worker pool of this daemon that stopped by itself
 * are released the same way (see `retire`).
 */
export class Reaper {
  /** Worker and pool ids of this daemon's pools that stopped by themselves -> why. */
  private readonly retired = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly identity: Pick<DaemonIdentity, "id">,
    private readonly deadAfterMs: number,
    private readonly events: DaemonEvents,
    private readonly logger: Logger,
  ) {}

  /**
   * A pool of this daemon stopped by itself (a database error while
   * completing jobs ends graphile-worker's pool). Jobs it still locks would
   * wait out graphile-worker's four-hour lock timeout, since this daemon is
   * alive and never reaped: the next `reap` releases them like a dead peer's.
   * By then the pool has finished or force-failed every attempt it started.
   */
  retire(workerIds: readonly string[], why: string): void {
    for (const id of workerIds) this.retired.set(id, why);
  }

  async reap(): Promise<ReapResult> {
    await this.releaseRetired();
    const result = await this.db.transaction().execute(async (trx) => {
      const dead = await trx
        .updateTable("pgmill.daemons")
        .set({ state: "dead", reaped_by: this.identity.id, reaped_at: sql<Date>`now()` })
        .where("state", "not in", ["stopped", "dead"])
        .where("id", "!=", this.identity.id)
        .where("last_seen", "<", sql<Date>`now() - make_interval(secs => ${this.deadAfterMs / 1000})`)
        .returning(["id", "host", "worker_ids", "last_seen"])
        .execute();
      if (!dead.length) return { daemons: [], jobs: 0, lettered: [] as string[], cancelled: [] as string[] };
      const owners = new Map(
        dead.flatMap((d) =>
          d.worker_ids.map((w) => {
            const reason = `daemon ${d.id} on ${d.host} stopped heartbeating (last seen ${d.last_seen.toISOString()}); its job was released`;
            return [w, { daemonId: d.id, reason }] as const;
          }),
        ),
      );
      const { jobs, lettered, cancelled } = await this.releaseHeld(trx, owners);
      // Their concurrency slots go with their jobs, and as many waiting jobs are made due (found by the next fetch).
      await releaseDaemonTaskSlots(trx, dead.map((d) => d.id));
      // Keep a week of history about daemons that are gone.
      await trx
        .deleteFrom("pgmill.daemons")
        .where("state", "in", ["stopped", "dead"])
        .where("last_seen", "<", sql<Date>`now() - interval '7 days'`)
        .execute();
      return { daemons: dead.map((d) => d.id), jobs, lettered, cancelled };
    });
    if (result.daemons.length) {
      this.logger.warn({ daemons: result.daemons, jobs: result.jobs }, "reaped dead daemons and released their jobs");
      this.events.emit("reaped", result.daemons, result.jobs);
      for (const task of result.lettered) this.events.emit("job:dead", task, "daemon_lost");
      for (const task of result.cancelled) this.events.emit("job:cancelled", task, "running");
    }
    return { daemons: result.daemons, jobs: result.jobs };
  }

  /**
   * Releases what retired lock ids still hold: the next reap does it, and a
   * daemon shutting down does it last, since no peer reaps a stopped daemon.
   * Jobs in `recorded` already have this attempt's history row (and dead
   * letter): they are only unlocked.
   */
  async releaseRetired(recorded: ReadonlySet<string> = new Set()): Promise<number> {
    if (!this.retired.size) return 0;
    const ids = [...this.retired.keys()];
    const owners = new Map(
      ids.map((w) => [w, { daemonId: this.identity.id, reason: `worker pool of this daemon stopped (${this.retired.get(w)}); its job was released` }] as const),
    );
    const { jobs, lettered, cancelled } = await this.db.transaction().execute((trx) => this.releaseHeld(trx, owners, recorded));
    for (const id of ids) this.retired.delete(id);
    if (jobs) this.logger.warn({ jobs }, "released the jobs a stopped worker pool of this daemon still held");
    for (const task of lettered) this.events.emit("job:dead", task, "daemon_lost");
    for (const task of cancelled) this.events.emit("job:cancelled", task, "running");
    return jobs;
  }

  /**
   * For every job locked by one of `owners`' worker ids: a `lost` history row,
   * the lock released, and a dead letter if it was on its last attempt.
   */
  private async releaseHeld(
    trx: Transaction<Database>,
    owners: ReadonlyMap<string, Owner>,
    recorded: ReadonlySet<string> = new Set(),
  ): Promise<{ jobs: number; lettered: string[]; cancelled: string[] }> {
    if (!owners.size) return { jobs: 0, lettered: [], cancelled: [] };
    const locked = await jobsLockedBy(trx, [...owners.keys()]);
    if (!locked.length) return { jobs: 0, lettered: [], cancelled: [] };
    await releaseLocks(trx, [...owners.keys()]);
    const cancels = new Map((await pendingCancelsOf(trx, locked.map((job) => job.id))).map((c) => [c.job_id, c]));
    // A cancelled attempt whose row exists (written at shutdown) gets no second one.
    const rowWritten = cancels.size ? await jobsRecordedCancelled(trx, [...cancels.keys()]) : new Set<string>();
    // A parked job never ran, and a retry's row is written with its request:
    // the request (applied once unlocked) says what happens to it, not a `lost` row.
    const parked = await jobsWithPendingReschedule(trx, locked.map((job) => job.id));
    await applyReschedulesOf(trx, [...parked]);
    const held = locked.filter((job) => !recorded.has(job.id) && !rowWritten.has(job.id) && !parked.has(job.id));
    // Removed here: held ones (their row below says cancelled) and those already recorded cancelled.
    // One recorded otherwise at shutdown (the cancel came after) is left to pgmill.settle_cancel_requests.
    const removing = [...cancels.keys()].filter((id) => rowWritten.has(id) || held.some((job) => job.id === id));
    if (removing.length) {
      await removeUnlockedJobs(trx, removing);
      await forgetRequests(trx, removing);
    }
    const cancelled = held.filter((job) => cancels.has(job.id)).map((job) => job.task_identifier);
    if (!held.length) return { jobs: locked.length, lettered: [], cancelled };
    const now = new Date();
    const ownerOf = (job: (typeof held)[number]) => owners.get(job.locked_by ?? "")!;
    await trx
      .insertInto("pgmill.job_runs")
      .values(
        held.map((job) => {
          const startedAt = job.locked_at ?? now;
          const cancel = cancels.get(job.id);
          const cancelledBy = cancel ? new JobCancelledError(cancel.requested_by, cancel.requested_at).message : null;
          return jobRunRow({
            id: randomUUID(),
            jobId: job.id,
            task: job.task_identifier,
            queue: job.queue_name,
            jobKey: job.key,
            attempt: Math.max(1, job.attempts),
            maxAttempts: Math.max(1, job.max_attempts),
            status: cancelledBy ? "cancelled" : "lost",
            error: { message: cancelledBy ? `${cancelledBy}; ${ownerOf(job).reason}` : ownerOf(job).reason, stack: null },
            startedAt,
            finishedAt: now,
            durationMs: Math.max(0, now.getTime() - startedAt.getTime()),
            daemonId: ownerOf(job).daemonId,
            // The public jobs view has no payload; the dead letter below keeps it.
            payload: null,
          });
        }),
      )
      .execute();
    const lastAttempts = held.filter((job) => job.attempts >= job.max_attempts && !cancels.has(job.id));
    const lettered = await moveToDeadLetters(
      trx,
      lastAttempts.map((job) => ({ ...job, needsLetter: true, lastError: ownerOf(job).reason })),
      { reason: "daemon_lost", daemonId: this.identity.id },
    );
    return { jobs: locked.length, lettered: lettered.map((j) => j.task_identifier), cancelled };
  }
}

interface Owner {
  readonly daemonId: string;
  /** Why its jobs are released: the history row's error and the dead letter's last error. */
  readonly reason: string;
}
