import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { readFileSync } from "node:fs";
import { sql } from "kysely";
import { z } from "zod";
import { publishCronLines } from "../../src/controls/cron-lines.js";
import { parseCrontabFile } from "../../src/crontab/parse-crontab.js";
import { defineTask } from "../../src/tasks/define-task.js";
import type { TaskCatalog } from "../../src/tasks/task-catalog.js";
import type { Db } from "../../src/db/database.js";
import type { RunStatus } from "../../src/db/schema.js";
import { addJobWithSql } from "../support/sql-jobs.js";

export const TOKEN = "dashboard-test-token-0123456789";

/** A crontab with a line in UTC, one in Paris and an `@every` line with overlap=skip, for the Cron page. */
export function writeCrontab(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "pgmill-dashboard-")), "crontab");
  writeFileSync(
    file,
    '*/5 * * * * log-message ?id=every-five {message: "tick"}\n0 9 * * 1-5 log-message ?id=paris-morning&tz=Europe/Paris {message: "bonjour"}\n' +
      '@every 30s log-message ?id=heartbeat&overlap=skip {message: "beat"}\n',
  );
  return file;
}

/** What a daemon does on start: publish the crontab's lines to pgmill.cron_lines (the cron controls act on these). */
export async function publishCrontab(db: Db, file: string, tasks: TaskCatalog): Promise<void> {
  await publishCronLines(db, parseCrontabFile(readFileSync(file, "utf8"), tasks, "crontab"), "test-host:42");
}

/** A task with both limits, for the overview's limited tasks (no daemon runs it here). */
export const limitedTask = defineTask({
  name: "send-email",
  payload: z.object({ to: z.string() }),
  concurrency: 2,
  rateLimit: { max: 10, per: "1m" },
  handler: async () => undefined,
});

export async function insertRun(
  db: Db,
  run: { jobId: string; task: string; status: RunStatus; attempt?: number; error?: string; startedAgoMs?: number; durationMs?: number; queue?: string; payload?: unknown },
): Promise<void> {
  const started = new Date(Date.now() - (run.startedAgoMs ?? 60_000));
  await db
    .insertInto("pgmill.job_runs")
    .values({
      id: randomUUID(),
      job_id: run.jobId,
      task: run.task,
      queue: run.queue ?? null,
      job_key: null,
      attempt: run.attempt ?? 1,
      max_attempts: 3,
      status: run.status,
      error_message: run.error ?? null,
      error_stack: null,
      started_at: started,
      finished_at: new Date(started.getTime() + (run.durationMs ?? 25)),
      duration_ms: run.durationMs ?? 25,
      daemon_id: "test-host:42",
      payload: JSON.stringify(run.payload ?? { n: 1 }),
    })
    .execute();
}

let nextJobId = 90_000;

export async function insertDeadLetter(db: Db, task = "log-message", lastError = "boom"): Promise<{ id: string; jobId: string }> {
  const jobId = String(nextJobId++);
  const row = await db
    .insertInto("pgmill.dead_letters")
    .values({
      job_id: jobId,
      job_revision: 0,
      task,
      payload: JSON.stringify({ message: "dead", secret: "s3cr3t-value" }),
      queue: null,
      priority: 0,
      job_key: null,
      flags: null,
      attempts: 3,
      max_attempts: 3,
      reason: "max_attempts",
      last_error: lastError,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return { id: row.id, jobId };
}

export interface Seeded {
  readonly queuedId: string;
  readonly scheduledId: string;
  readonly failedRunJobId: string;
  readonly letter: { id: string; jobId: string };
}

/** A little of everything: queued and scheduled jobs, succeeded and failed attempts, a dead letter, a daemon. */
export async function seed(db: Db): Promise<Seeded> {
  const queuedId = await addJobWithSql(db, "send-email", { to: "a@example.com" }, { queue: "mail" });
  const scheduledId = await addJobWithSql(db, "report", {}, { runAt: new Date(Date.now() + 3600_000).toISOString() });
  for (let i = 0; i < 10; i++) await insertRun(db, { jobId: String(80_000 + i), task: "send-email", status: "succeeded", startedAgoMs: (i + 1) * 120_000, durationMs: 10 + i * 10 });
  const failedRunJobId = "80100";
  await insertRun(db, { jobId: failedRunJobId, task: "report", status: "failed", error: "boom <script>alert(1)</script>", attempt: 1, startedAgoMs: 300_000 });
  await insertRun(db, { jobId: failedRunJobId, task: "report", status: "succeeded", attempt: 2, startedAgoMs: 200_000, payload: { account: 7 } });
  const letter = await insertDeadLetter(db, "log-message", "max attempts used");
  await db
    .insertInto("pgmill.daemons")
    .values({ id: "test-host:42", host: "test-host", pid: 42, version: "0.1.0", worker_ids: [], state: "running", jobs_in_flight: 2 })
    .execute();
  return { queuedId, scheduledId, failedRunJobId, letter };
}

/** The live jobs graphile-worker holds for this task (what a retry re-enqueues into). */
export async function liveJobIds(db: Db, task: string): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`select id from graphile_worker.jobs where task_identifier = ${task} order by id`.execute(db);
  return rows.map((r) => r.id);
}

/** A day of history for the charts: a few hundred attempts over 24 hours, busier and flakier in the last hour. */
export async function seedHistory(db: Db): Promise<void> {
  await sql`
    insert into pgmill.job_runs (id, job_id, task, queue, attempt, max_attempts, status, error_message, started_at, finished_at, duration_ms, daemon_id, payload)
    select gen_random_uuid(), 200000 + g, (array['send-email', 'report', 'resize-image'])[1 + g % 3], null, 1, 3,
           (case when g % 11 = 0 then 'failed' when g % 37 = 0 then 'timed_out' else 'succeeded' end)::text,
           case when g % 11 = 0 then 'connection reset by peer' when g % 37 = 0 then 'timed out after 30 s' end,
           now() - make_interval(secs => case when g <= 240 then g * 15 else 3600 + (g - 240) * 240 end),
           now() - make_interval(secs => case when g <= 240 then g * 15 else 3600 + (g - 240) * 240 end) + interval '1 second',
           20 + (g * 37) % 900, 'web-1:4242', '{"n": 1}'
      from generate_series(1, 560) g
  `.execute(db);
}
