import { sql } from "kysely";
import type { Db } from "../db/database.js";
import { taskLimitsOf, type TaskLimitsInput } from "../tasks/task-limits.js";

// The calls behind cluster-wide task limits (sql/0011_limits.sql): daemons
// take and release slots and rate starts; status reads the current use.

/** Taken (0), refused with this many jobs waiting for a slot, or null: the job is not locked by `lockId`. */
export async function takeTaskSlot(
  db: Db,
  slot: { task: string; limit: number; jobId: string; lockId: string; daemonId: string },
): Promise<number | null> {
  const { rows } = await sql<{ waiting: number | null }>`
    select pgmill.take_task_slot(${slot.task}, ${slot.limit}::int, ${slot.jobId}::bigint, ${slot.lockId}, ${slot.daemonId}) as waiting
  `.execute(db);
  return rows[0]!.waiting;
}

/** Gives back a finished attempt's slot; resolves to how many waiting jobs it made due now (to nudge for). */
export async function releaseTaskSlot(db: Db, jobId: string): Promise<number> {
  const { rows } = await sql<{ woken: number }>`select pgmill.release_task_slot(${jobId}::bigint) as woken`.execute(db);
  return rows[0]!.woken;
}

/** Frees every slot these daemons hold (dead peers, or this daemon at shutdown); resolves to the jobs made due now. */
export async function releaseDaemonTaskSlots(db: Db, daemonIds: readonly string[]): Promise<number> {
  if (!daemonIds.length) return 0;
  const { rows } = await sql<{ woken: number }>`
    select pgmill.release_daemon_task_slots(${[...daemonIds]}::text[]) as woken
  `.execute(db);
  return rows[0]!.woken;
}

export interface LimitTake {
  readonly task: string;
  readonly jobId: string;
  readonly lockId: string;
  /** The task's concurrency, or null: no slot taken. */
  readonly concurrency: number | null;
  /** The task's rate limit, or null: no start counted. */
  readonly rate: { readonly max: number; readonly perMs: number } | null;
}

export interface LimitAnswer {
  /** 0: a slot was taken (or none asked); > 0: refused, with this many waiting; null: the job is not locked by lockId. */
  readonly waiting: number | null;
  /** Refused by the rate limit: when to try again (any slot taken was given back). */
  readonly retryAt: Date | null;
}

/** The takes of many attempts in one round trip (pgmill.take_task_limits), answered in the order asked. */
export async function takeTaskLimits(db: Db, daemonId: string, takes: readonly LimitTake[]): Promise<LimitAnswer[]> {
  const { rows } = await sql<{ job: string; waiting: number | null; retry_at: Date | null }>`
    select job::text, waiting, retry_at from pgmill.take_task_limits(
      ${takes.map((t) => t.task)}::text[],
      ${takes.map((t) => t.concurrency)}::int[],
      ${takes.map((t) => t.jobId)}::bigint[],
      ${takes.map((t) => t.lockId)}::text[],
      ${daemonId},
      ${takes.map((t) => t.rate?.max ?? null)}::int[],
      ${takes.map((t) => (t.rate ? t.rate.perMs / 1000 : null))}::float8[]
    )
  `.execute(db);
  const byJob = new Map(rows.map((r) => [r.job, { waiting: r.waiting, retryAt: r.retry_at }]));
  return takes.map((t) => byJob.get(t.jobId) ?? { waiting: null, retryAt: null });
}

/** Gives back the slots of many finished attempts at once; resolves to how many waiting jobs were made due now. */
export async function releaseTaskSlots(db: Db, jobIds: readonly string[]): Promise<number> {
  const { rows } = await sql<{ woken: number }>`select pgmill.release_task_slots(${[...jobIds]}::bigint[]) as woken`.execute(db);
  return rows[0]!.woken;
}

/** Counts a start in the task's current window: null when admitted, else when to try again. */
export async function takeTaskRate(db: Db, rate: { task: string; max: number; perMs: number }): Promise<Date | null> {
  const { rows } = await sql<{ retry_at: Date | null }>`
    select pgmill.take_task_rate(${rate.task}, ${rate.max}::int, ${rate.perMs / 1000}::float8) as retry_at
  `.execute(db);
  return rows[0]!.retry_at;
}

/** Slots whose attempt may still be running (pgmill.live_task_slots()), counted per task. */
async function liveTaskSlots(db: Db, tasks: readonly string[]) {
  const { rows } = await sql<{ task: string; n: string }>`
    select task, count(*)::text as n from pgmill.live_task_slots() where task = any(${[...tasks]}::text[]) group by task
  `.execute(db);
  return rows;
}

/** Per task: the slots in use now (over all daemons), jobs waiting for one, and starts in the current rate window. */
export async function taskLimitUse(db: Db, tasks: readonly string[]) {
  if (!tasks.length) return [];
  const [slots, waiters, windows] = await Promise.all([
    liveTaskSlots(db, tasks),
    db
      .selectFrom("pgmill.task_slot_waiters")
      .select(["task", (eb) => eb.fn.countAll<string>().as("n")])
      .where("task", "in", [...tasks])
      .groupBy("task")
      .execute(),
    db.selectFrom("pgmill.task_rate_windows").select(["task", "window_start", "started"]).where("task", "in", [...tasks]).execute(),
  ]);
  return tasks.map((task) => {
    const window = windows.find((w) => w.task === task);
    return {
      task,
      running: Number(slots.find((s) => s.task === task)?.n ?? 0),
      waiting: Number(waiters.find((w) => w.task === task)?.n ?? 0),
      window: window ? { start: window.window_start, started: window.started } : null,
    };
  });
}

/**
 * What `pgmill status` shows of the tasks with limits (as the given task
 * definitions declare them): each limit with its use now, over all daemons.
 */
export async function limitedTaskStatus(db: Db, tasks: readonly TaskLimitsInputWithName[]) {
  const limited = tasks.flatMap((task) => {
    const limits = taskLimitsOf(task);
    return limits ? [{ task: task.name, limits }] : [];
  });
  const use = await taskLimitUse(db, limited.map((l) => l.task));
  const now = Date.now();
  return limited.map(({ task, limits }, i) => {
    const { running, waiting, window } = use[i]!;
    const rate = limits.rate;
    const inWindow = rate && window && window.start.getTime() + rate.perMs > now ? window.started : 0;
    return {
      task,
      concurrency: limits.concurrency,
      running: limits.concurrency === null ? null : running,
      waiting_for_slot: limits.concurrency === null ? null : waiting,
      rate_limit: rate ? `${rate.max} per ${formatMs(rate.perMs)}` : null,
      started_this_window: rate ? inWindow : null,
    };
  });
}

type TaskLimitsInputWithName = TaskLimitsInput & { readonly name: string };

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
