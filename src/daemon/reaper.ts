import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { Db } from "../db/database.js";
import { moveToDeadLetters } from "../dead-letters/move-to-dead-letters.js";
import { jobRunRow } from "../ledger/rows.js";
import type { Logger } from "../logging/logger.js";
import type { DaemonEvents } from "./daemon-events.js";

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
 * 3. releases them with graphile-worker's `force_unlock_workers`, so any daemon
 *    runs them again now rather than after its four-hour lock timeout;
 * 4. dead-letters (reason `daemon_lost`) those that were on their last attempt,
 *    since graphile-worker would never run them again.
 */
export class Reaper {
  constructor(
    private readonly db: Db,
    private readonly daemonId: string,
    private readonly deadAfterMs: number,
    private readonly events: DaemonEvents,
    private readonly logger: Logger,
  ) {}

  async reap(): Promise<ReapResult> {
    const result = await this.db.transaction().execute(async (trx) => {
      const dead = await trx
        .updateTable("pgmill.daemons")
        .set({ state: "dead", reaped_by: this.daemonId, reaped_at: sql<Date>`now()` })
        .where("state", "not in", ["stopped", "dead"])
        .where("id", "!=", this.daemonId)
        .where("last_seen", "<", sql<Date>`now() - make_interval(secs => ${this.deadAfterMs / 1000})`)
        .returning(["id", "host", "worker_ids", "last_seen"])
        .execute();
      if (!dead.length) return { daemons: [], jobs: 0, lettered: [] as string[] };

      const ownerOf = new Map(dead.flatMap((d) => d.worker_ids.map((w) => [w, d] as const)));
      const held = ownerOf.size
        ? await trx
            .selectFrom("graphile_worker.jobs")
            .select(["id", "task_identifier", "queue_name", "key", "attempts", "max_attempts", "locked_at", "locked_by", "revision"])
            .where("locked_by", "in", [...ownerOf.keys()])
            .execute()
        : [];
      const now = new Date();
      const reasonFor = (lockedBy: string | null) => {
        const owner = ownerOf.get(lockedBy ?? "")!;
        return `daemon ${owner.id} on ${owner.host} stopped heartbeating (last seen ${owner.last_seen.toISOString()}); its job was released`;
      };
      if (held.length) {
        await trx
          .insertInto("pgmill.job_runs")
          .values(
            held.map((job) => {
              const startedAt = job.locked_at ?? now;
              return jobRunRow({
                id: randomUUID(),
                jobId: job.id,
                task: job.task_identifier,
                queue: job.queue_name,
                jobKey: job.key,
                attempt: Math.max(1, job.attempts),
                maxAttempts: Math.max(1, job.max_attempts),
                status: "lost",
                error: { message: reasonFor(job.locked_by), stack: null },
                startedAt,
                finishedAt: now,
                durationMs: Math.max(0, now.getTime() - startedAt.getTime()),
                daemonId: ownerOf.get(job.locked_by ?? "")!.id,
                // The public jobs view has no payload; the dead letter below keeps it.
                payload: null,
              });
            }),
          )
          .execute();
        await sql`select graphile_worker.force_unlock_workers(${[...ownerOf.keys()]}::text[])`.execute(trx);
      }
      const lastAttempts = held.filter((job) => job.attempts >= job.max_attempts);
      const lettered = await moveToDeadLetters(
        trx,
        lastAttempts.map((job) => ({ ...job, needsLetter: true, lastError: reasonFor(job.locked_by) })),
        { reason: "daemon_lost", daemonId: this.daemonId },
      );
      // Keep a week of history about daemons that are gone.
      await trx
        .deleteFrom("pgmill.daemons")
        .where("state", "in", ["stopped", "dead"])
        .where("last_seen", "<", sql<Date>`now() - interval '7 days'`)
        .execute();
      return { daemons: dead.map((d) => d.id), jobs: held.length, lettered: lettered.map((j) => j.task_identifier) };
    });
    if (result.daemons.length) {
      this.logger.warn({ daemons: result.daemons, jobs: result.jobs }, "reaped dead daemons and released their jobs");
      this.events.emit("reaped", result.daemons, result.jobs);
      for (const task of result.lettered) this.events.emit("job:dead", task, "daemon_lost");
    }
    return { daemons: result.daemons, jobs: result.jobs };
  }
}
