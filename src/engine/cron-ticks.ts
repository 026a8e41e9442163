import { sql } from "kysely";
import type { Db } from "../db/database.js";

// The graphile_worker SQL behind two crontab controls: `?overlap=skip` (which
// reads the public `jobs` view) and `@every` lines (which call `add_job`).

/**
 * After cron enqueued a tick of an `?overlap=skip` line: its add_job (mode
 * unsafe_dedupe) added nothing if the line's job still there is an earlier
 * one (cron gives each tick's job run_at = the tick). `counted` is true on the
 * one daemon whose skip record landed, which counts it. (Should the earlier
 * job finish between the tick and this check, the skip goes unnoticed.)
 */
export async function checkOverlapSkip(db: Db, identifier: string, jobKey: string, tick: Date): Promise<{ skipped: boolean; counted: boolean }> {
  const { rows } = await sql<{ skipped: boolean; counted: boolean }>`
    with earlier as (
      select exists (select 1 from graphile_worker.jobs where key = ${jobKey} and run_at <> ${tick}::timestamptz) as skipped
    ), recorded as (
      insert into pgmill.cron_overlap_skips (identifier, tick)
      select ${identifier}, ${tick}::timestamptz from earlier where skipped
      on conflict do nothing
      returning identifier
    )
    select (select skipped from earlier) as skipped, exists (select 1 from recorded) as counted
  `.execute(db);
  return rows[0]!;
}

/** Skip records older than a day are of no use (the counter is in metrics). */
export async function pruneOverlapSkips(db: Db): Promise<void> {
  await db.deleteFrom("pgmill.cron_overlap_skips").where("tick", "<", sql<Date>`now() - interval '1 day'`).execute();
}

export interface EveryTick {
  readonly identifier: string;
  readonly tick: Date;
  readonly next: Date;
  readonly task: string;
  readonly payload: unknown;
  readonly queueName?: string | undefined;
  readonly maxAttempts?: number | undefined;
  readonly priority?: number | undefined;
  readonly jobKey?: string | undefined;
  readonly jobKeyMode?: string | undefined;
  readonly overlapSkip: boolean;
}

/** What became of a tick: this daemon enqueued it, another did, the line is paused, or the previous run is still there. */
export type EveryTickOutcome = "enqueued" | "taken" | "paused" | "skipped";

/**
 * Enqueues one tick of an `@every` line, once over every daemon: the tick is
 * claimed by advancing `cron_every_ticks.last_tick` with a conditional update
 * in the transaction that adds the job, so a daemon that loses the race (or
 * fails midway) adds nothing.
 */
export async function enqueueEveryTick(db: Db, spec: EveryTick): Promise<EveryTickOutcome> {
  return db.transaction().execute(async (tx) => {
    const claimed = await tx
      .insertInto("pgmill.cron_every_ticks")
      .values({ identifier: spec.identifier, last_tick: spec.tick })
      .onConflict((oc) =>
        oc
          .column("identifier")
          .doUpdateSet({ last_tick: spec.tick })
          .where("pgmill.cron_every_ticks.last_tick", "<", spec.tick),
      )
      .returning("identifier")
      .executeTakeFirst();
    if (!claimed) return "taken";
    await tx
      .updateTable("pgmill.cron_lines")
      .set({ next_tick_at: spec.next })
      .where("identifier", "=", spec.identifier)
      .execute();
    const paused = await tx
      .selectFrom("pgmill.cron_pauses")
      .select("id")
      .where("identifier", "=", spec.identifier)
      .where("paused_at", "<=", spec.tick)
      .where((eb) => eb.or([eb("resumed_at", "is", null), eb("resumed_at", ">", spec.tick)]))
      .executeTakeFirst();
    if (paused) return "paused";
    const payload = { ...(spec.payload as object), _cron: { ts: spec.tick.toISOString(), backfilled: false } };
    const { rows } = await sql<{ revision: number }>`
      select (graphile_worker.add_job(
        ${spec.task}, ${JSON.stringify(payload)}::json,
        queue_name => ${spec.queueName ?? null}::text, run_at => ${spec.tick}::timestamptz,
        max_attempts => ${spec.maxAttempts ?? null}::integer, job_key => ${spec.jobKey ?? null}::text,
        priority => ${spec.priority ?? null}::integer, job_key_mode => ${spec.jobKeyMode ?? "replace"}::text
      )).revision
    `.execute(tx);
    // unsafe_dedupe hands back the job already there, its revision bumped; a new job has revision 0.
    if (spec.overlapSkip && rows[0]!.revision > 0) {
      await tx.insertInto("pgmill.cron_overlap_skips").values({ identifier: spec.identifier, tick: spec.tick }).onConflict((oc) => oc.doNothing()).execute();
      return "skipped";
    }
    await tx
      .updateTable("pgmill.cron_lines")
      .set({ last_tick_at: spec.tick })
      .where("identifier", "=", spec.identifier)
      .execute();
    return "enqueued";
  });
}
