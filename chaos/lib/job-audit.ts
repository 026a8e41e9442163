import { sql } from "kysely";
import type { Db } from "../../src/db/database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import type { Check } from "./scenario.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

/**
 * A fault: a kill, a restart, a burst of terminated connections. Jobs locked
 * when it struck, or with an attempt overlapping its window, were in flight at
 * it: the only jobs that may run more than once.
 */
export interface Fault {
  readonly label: string;
  readonly startedAt: number;
  endedAt: number;
  /** Job ids locked (running or in a daemon's local queue) when the fault struck. */
  readonly locked: ReadonlySet<string>;
}

/**
 * The ledger row of an attempt is committed before graphile-worker completes
 * the job; a fault in between reruns a job whose attempt ended just before it.
 */
const COMPLETION_LAG_MS = 2_000;

export interface JobFigures {
  readonly enqueued: number;
  readonly completed: number;
  readonly deadLettered: number;
  /** Enqueued, yet neither completed nor dead-lettered: must be 0. */
  readonly lost: number;
  /** Jobs with more than one attempt in the ledger (`stale` rows not counted: they were not applied). */
  readonly runMoreThanOnce: number;
  /** …of which succeeded more than once. */
  readonly succeededMoreThanOnce: number;
  /** …of which were in flight at a fault (allowed). */
  readonly inFlightAtFault: number;
  /** Ids of jobs run more than once that were not in flight at any fault (must be none). */
  readonly unexplainedDuplicates: string[];
  /** `stale` rows: attempts that finished after their daemon was reaped; outcome not applied. */
  readonly staleRows: number;
  /**
   * Ids of jobs completed while another daemon held them: two `succeeded`
   * attempts that ran at the same time, or one by a daemon reaped before that
   * attempt finished (must be none). Two successes one after the other are a
   * job whose first completion a fault swallowed: run more than once, in flight.
   */
  readonly completedWhileHeldElsewhere: string[];
  /** Ids of lost jobs (first few), for the report. */
  readonly lostIds: string[];
  /** Jobs of the whole database still locked at the end: must be 0. */
  readonly lockedLeft: number;
  /** Enqueued jobs still in graphile-worker's queue at the end, and why (their last errors). */
  readonly leftInQueue: { readonly count: number; readonly lastErrors: string[] };
}

/** Jobs locked now (by any of `workerIds` when given): the jobs in flight at a fault that strikes next. */
export async function lockedJobIds(db: Db, workerIds?: readonly string[]): Promise<Set<string>> {
  let query = withEngineTables(db).selectFrom("graphile_worker.jobs").select("id").where("locked_at", "is not", null);
  if (workerIds) query = query.where("locked_by", "in", workerIds.length ? [...workerIds] : [""]);
  const rows = await query.execute();
  return new Set(rows.map((r) => r.id));
}

/** Waits (bounded) until none of `ids` is left in graphile-worker's queue, as a check for the report. */
export async function drainCheck(db: Db, ids: string[], timeoutMs = 90_000): Promise<Check> {
  const drained = await waitFor(
    `the ${ids.length} enqueued jobs to finish`,
    async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from graphile_worker.jobs where id = any(${ids}::bigint[])
      `.execute(db);
      return rows[0]!.n === 0;
    },
    timeoutMs,
    500,
  ).then(
    () => true,
    () => false,
  );
  return { what: "every job finished once the load stopped", ok: drained, detail: drained ? "drained" : `not within ${timeoutMs / 1000} s` };
}

/** Accounts for every enqueued job from the ledger, dead letters and graphile-worker's public view. */
export async function auditJobs(db: Db, ids: string[], faults: readonly Fault[]): Promise<JobFigures> {
  const rows = await db
    .selectFrom("pgmill.job_runs")
    .select(["job_id", "status", "started_at", "finished_at", "daemon_id"])
    .where(sql<boolean>`job_id = any(${ids}::bigint[])`)
    .execute();
  // A stale row is a late outcome that was not applied: not a run of the job.
  const runs = rows.filter((r) => r.status !== "stale");
  const reaped = await db.selectFrom("pgmill.daemons").select(["id", "reaped_at"]).where("state", "=", "dead").execute();
  const reapedAt = new Map(reaped.map((d) => [d.id, d.reaped_at?.getTime() ?? Number.NEGATIVE_INFINITY]));
  const queued = await withEngineTables(db).selectFrom("graphile_worker.jobs").select(["id", "last_error", "locked_by", "attempts"]).where(sql<boolean>`id = any(${ids}::bigint[])`).execute();
  const letters = await db.selectFrom("pgmill.dead_letters").select("job_id").where(sql<boolean>`job_id = any(${ids}::bigint[])`).execute();
  const { rows: locked } = await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs where locked_at is not null`.execute(db);

  const runsOf = new Map<string, typeof runs>();
  for (const run of runs) runsOf.set(run.job_id, [...(runsOf.get(run.job_id) ?? []), run]);
  const stillQueued = new Set(queued.map((q) => q.id));
  const lettered = new Set(letters.map((l) => l.job_id));

  const completed = ids.filter((id) => !stillQueued.has(id) && runsOf.get(id)?.some((r) => r.status === "succeeded"));
  const completedSet = new Set(completed);
  const lost = ids.filter((id) => !completedSet.has(id) && !lettered.has(id));
  const repeated = ids.filter((id) => (runsOf.get(id)?.length ?? 0) > 1);
  const inFlight = (id: string) =>
    faults.some(
      (fault) =>
        fault.locked.has(id) ||
        runsOf.get(id)!.some(
          (r) => r.started_at.getTime() <= fault.endedAt && r.finished_at.getTime() >= fault.startedAt - COMPLETION_LAG_MS,
        ),
    );
  const explained = repeated.filter(inFlight);
  const successes = (id: string) => runsOf.get(id)?.filter((r) => r.status === "succeeded") ?? [];
  const afterItsReaping = (run: (typeof runs)[number]) => (reapedAt.get(run.daemon_id) ?? Number.POSITIVE_INFINITY) < run.finished_at.getTime();
  const overlapping = (id: string) =>
    successes(id).some((a, i) => successes(id).slice(i + 1).some((b) => a.started_at < b.finished_at && b.started_at < a.finished_at));
  return {
    enqueued: ids.length,
    completed: completed.length,
    deadLettered: ids.filter((id) => lettered.has(id)).length,
    lost: lost.length,
    runMoreThanOnce: repeated.length,
    succeededMoreThanOnce: repeated.filter((id) => successes(id).length > 1).length,
    inFlightAtFault: explained.length,
    unexplainedDuplicates: repeated.filter((id) => !inFlight(id)),
    staleRows: rows.length - runs.length,
    completedWhileHeldElsewhere: ids.filter((id) => overlapping(id) || successes(id).some(afterItsReaping)),
    lostIds: lost.slice(0, 10),
    lockedLeft: locked[0]!.n,
    leftInQueue: {
      count: queued.length,
      lastErrors: [...new Set(queued.map((q) => `${q.locked_by ? `locked by ${q.locked_by}` : "unlocked"}, attempts ${q.attempts}: ${q.last_error ?? "no error"}`))].slice(0, 5),
    },
  };
}
