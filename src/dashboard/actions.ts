import { z } from "zod";
import { bigintId, durationSeconds } from "../cli/arguments.js";
import type { Db } from "../db/database.js";
import { cancelJob, type CancelResult } from "../controls/cancel-queries.js";
import { pauseCron, resumeCron, runCronNow } from "../controls/cron-operator.js";
import { pauseTask, resumeTask } from "../controls/pause-queries.js";
import { liveJob } from "../engine/live-jobs.js";
import { purgeDeadLetters, retryDeadLetter, retryDeadLetters } from "../dead-letters/queries.js";

// Every write the dashboard can make: a name (its URL is POST /actions/<name>),
// the form fields it takes, and what it runs: the same functions the CLI uses.
// The server checks access, CSRF and input, logs the result and redirects;
// adding an action (pause a cron line, cancel a job) is one entry here and one
// actionForm() on a page.

export interface ActionResult {
  /** Shown to the person who acted. */
  readonly message: string;
  /** Logged with the action. */
  readonly details: Record<string, unknown>;
  /** Where to go next, when not back to the page acted on. */
  readonly redirect?: string;
  /** Nothing was done (shown as a problem, logged as a warning). */
  readonly refused?: boolean;
}

interface Action<S extends z.ZodType> {
  readonly input: S;
  run(db: Db, input: z.output<S>): Promise<ActionResult>;
}

const defineAction = <S extends z.ZodType>(input: S, run: (db: Db, input: z.output<S>) => Promise<ActionResult>): Action<S> => ({ input, run });

const taskName = z.string().min(1).max(128);
/** A crontab line's ?id= (pgmill.cron_lines.identifier). */
const cronId = z.string().min(1).max(256);

export const ACTIONS = {
  "retry-dead-letter": defineAction(z.object({ id: bigintId }), async (db, { id }) => {
    const jobId = await retryDeadLetter(db, id);
    return { message: `Dead letter ${id} re-enqueued as job ${jobId}.`, details: { deadLetterId: id, newJobId: jobId } };
  }),
  "retry-dead-letters": defineAction(z.object({ task: taskName.optional() }), async (db, { task }) => {
    const retried = await retryDeadLetters(db, task);
    return { message: `${retried} dead letter${retried === 1 ? "" : "s"} re-enqueued${task ? ` (task ${task})` : ""}.`, details: { task: task ?? null, retried } };
  }),
  "purge-dead-letters": defineAction(z.object({ olderThan: durationSeconds }), async (db, { olderThan }) => {
    const purged = await purgeDeadLetters(db, olderThan);
    return { message: `${purged} dead letter${purged === 1 ? "" : "s"} older than ${olderThan} s purged.`, details: { olderThanSeconds: olderThan, purged } };
  }),
  "cancel-job": defineAction(z.object({ id: bigintId }), async (db, { id }) => {
    const result = await cancelJob(db, id);
    return { message: `Job ${id}: ${CANCEL_MESSAGES[result]}`, details: { jobId: id, result }, refused: !["cancelled", "cancelling"].includes(result) };
  }),
  "pause-task": defineAction(z.object({ task: taskName }), async (db, { task }) => {
    const changed = await pauseTask(db, task);
    return { message: changed ? `Task ${task} paused: its queued jobs are held; running attempts finish.` : `Task ${task} was paused already.`, details: { task, changed } };
  }),
  "resume-task": defineAction(z.object({ task: taskName }), async (db, { task }) => {
    const changed = await resumeTask(db, task);
    return { message: changed ? `Task ${task} resumed: its held jobs are back at their run_at.` : `Task ${task} was not paused.`, details: { task, changed } };
  }),
  // The crontab controls, as `pgmill pause cron`, `pgmill resume cron` and `pgmill cron run` call them.
  // An unknown id is a PgmillError (PGMILL_NOT_FOUND, naming the known ids): the server shows it as refused.
  "pause-cron": defineAction(z.object({ id: cronId }), async (db, { id }) => {
    const since = await pauseCron(db, id);
    return { message: `Crontab line ${id} paused since ${since.toISOString().slice(0, 19).replace("T", " ")} UTC: its ticks are not enqueued, nor backfilled after resume.`, details: { cron: id, pausedSince: since.toISOString() } };
  }),
  "resume-cron": defineAction(z.object({ id: cronId }), async (db, { id }) => {
    const resumed = await resumeCron(db, id);
    return { message: resumed ? `Crontab line ${id} resumed from its next tick.` : `Crontab line ${id} was not paused.`, details: { cron: id, resumed } };
  }),
  "run-cron-now": defineAction(z.object({ id: cronId }), async (db, { id }) => {
    const jobId = await runCronNow(db, id);
    const existing = await enqueuedBefore(db, id, jobId);
    const message = existing
      ? `Crontab line ${id}: job ${jobId} was already queued or running under the line's job key (overlap=skip or jobKey); run now added no other.`
      : `Crontab line ${id} run now: job ${jobId}.`;
    return { message, details: { cron: id, jobId, existing }, redirect: `/jobs/${jobId}` };
  }),
} as const satisfies Record<string, Action<z.ZodType>>;

/**
 * Whether run_cron_now handed back a job that was there before it (a line with
 * overlap=skip, or a jobKey in unsafe_dedupe mode, keeps its previous run): that
 * job was created before the call's transaction, which stamped
 * last_manual_run_at with its now(); a new job's created_at is that same now().
 */
async function enqueuedBefore(db: Db, identifier: string, jobId: string): Promise<boolean> {
  const [job, line] = await Promise.all([
    liveJob(db, jobId),
    db.selectFrom("pgmill.cron_lines").select("last_manual_run_at").where("identifier", "=", identifier).executeTakeFirst(),
  ]);
  if (!job || !line?.last_manual_run_at) return false;
  return new Date(job.created_at).getTime() < new Date(line.last_manual_run_at).getTime();
}

/** What pgmill.cancel_job's answers mean to the person who clicked. */
const CANCEL_MESSAGES: Record<CancelResult, string> = {
  cancelled: "cancelled (it was queued; it will not run).",
  cancelling: "running: its handler is being aborted; the attempt will be recorded cancelled.",
  dead_letter: "not cancelled: it is a dead letter (retry or purge it instead).",
  finished: "not cancelled: it has already finished.",
  not_found: "not cancelled: no such job.",
};

export type ActionName = keyof typeof ACTIONS;

export function isActionName(name: string): name is ActionName {
  return Object.hasOwn(ACTIONS, name);
}
