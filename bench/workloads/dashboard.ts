import path from "node:path";
import { sql } from "kysely";
import { dashboardApp } from "../../src/dashboard/app.js";
import { openDatabase, type Db } from "../../src/db/database.js";
import { loadTasks } from "../../src/tasks/task-catalog.js";
import { median } from "../lib/stats.js";
import { silentLogger } from "../systems/pgmill.js";
import type { BenchContext } from "./context.js";

/** History spread over the retention window's days, in daily partitions, as a month of a busy system looks. */
const HISTORY_DAYS = 30;
const LIVE_JOBS = 10_000;
const DEAD_LETTERS = 1_000;
/** Timed requests per page, after one warm-up. */
const REQUESTS = 10;

export interface DashboardPageTime {
  readonly page: string;
  readonly medianMs: number;
  readonly maxMs: number;
}

export interface DashboardSummary {
  readonly historyRows: number;
  readonly liveJobs: number;
  readonly deadLetters: number;
  readonly pages: DashboardPageTime[];
  /** The slowest page's median. */
  readonly slowestMs: number;
}

/**
 * Workload 7: the dashboard's server time on real history. A fresh pgmill
 * database gets `historyRows` attempts (20 tasks, 2% failed, over 30 daily
 * partitions), 10k live jobs and 1k dead letters; then every page is requested
 * in-process (`app.request`: routing, queries and rendering, no socket)
 * 10 times after a warm-up.
 */
export async function dashboardWorkload(ctx: BenchContext, historyRows: number): Promise<DashboardSummary> {
  const pgmill = ctx.adapters.find((a) => a.id === "pgmill")!;
  const db = await ctx.dbs.fresh("dashboard", ctx.templates.get(pgmill.id)!);
  const handle = openDatabase(db.url, { maxConnections: 4, applicationName: "pgmill-bench-dashboard" });
  try {
    await fill(handle.db, historyRows);
    ctx.log(`dashboard: ${historyRows.toLocaleString("en")} history rows, ${LIVE_JOBS} live jobs, ${DEAD_LETTERS} dead letters`);
    const app = dashboardApp({
      db: handle.db,
      logger: silentLogger,
      tasks: await loadTasks({ tasksDir: null }),
      crontabPath: path.resolve("crontab"),
      payloadMode: "stored",
      token: null,
      host: "127.0.0.1",
    });
    const someJob = (await sql<{ job_id: string }>`select job_id from pgmill.job_runs where status = 'failed' order by started_at desc limit 1`.execute(handle.db)).rows[0]?.job_id ?? "1";
    const paths = ["/", "/jobs", "/jobs?state=queued&task=task-3", "/runs", "/runs?task=task-3", "/runs?status=failed&since=7d", `/jobs/${someJob}`, "/dead-letters", "/cron", "/daemons"];
    const pages: DashboardPageTime[] = [];
    for (const page of paths) {
      const times: number[] = [];
      for (let i = 0; i <= REQUESTS; i++) {
        const started = performance.now();
        const response = await app.request(`http://localhost${page}`, { headers: { host: "localhost" } });
        await response.text();
        if (response.status !== 200) throw new Error(`dashboard ${page}: HTTP ${response.status}`);
        if (i > 0) times.push(performance.now() - started);
      }
      pages.push({ page, medianMs: median(times), maxMs: Math.max(...times) });
      ctx.log(`dashboard: ${page}: median ${median(times).toFixed(1)} ms`);
    }
    return { historyRows, liveJobs: LIVE_JOBS, deadLetters: DEAD_LETTERS, pages, slowestMs: Math.max(...pages.map((p) => p.medianMs)) };
  } finally {
    await handle.close();
    await ctx.dbs.drop(db);
  }
}

async function fill(db: Db, rows: number): Promise<void> {
  await sql`select pgmill.create_job_runs_partition(((now() at time zone 'UTC')::date - d)) from generate_series(1, ${HISTORY_DAYS}) as d`.execute(db);
  const chunk = 250_000;
  for (let done = 0; done < rows; done += chunk) {
    await sql`
      insert into pgmill.job_runs
        (id, job_id, task, queue, job_key, attempt, max_attempts, status, error_message, started_at, finished_at, duration_ms, daemon_id, payload)
      select gen_random_uuid(), i, 'task-' || (i % 20), case when i % 5 = 0 then 'q' || (i % 3) end, null, 1, 25,
             case when i % 50 = 0 then 'failed' else 'succeeded' end, case when i % 50 = 0 then 'error ' || i end,
             t, t + interval '5 ms', (i * 7) % 1000, 'bench-fill', jsonb_build_object('i', i)
      from generate_series(${done + 1}::bigint, ${Math.min(rows, done + chunk)}::bigint) as i,
           lateral (select now() - interval '1 day' * ${HISTORY_DAYS} * (i::float8 / ${rows}) as t) as started
    `.execute(db);
  }
  await sql`
    select graphile_worker.add_jobs(array(
      select row('task-' || (g % 20), '{}'::json, null, case when g % 4 = 0 then now() + interval '1 hour' end, null, null, null, null)::graphile_worker.job_spec
      from generate_series(1, ${LIVE_JOBS}::int) g
    ))
  `.execute(db);
  await sql`
    insert into pgmill.dead_letters (job_id, job_revision, task, payload, queue, priority, attempts, max_attempts, reason, last_error)
    select 50000000 + g, 0, 'task-' || (g % 20), '{}', null, 0, 25, 25, 'max_attempts', 'boom' from generate_series(1, ${DEAD_LETTERS}::int) g
  `.execute(db);
  await sql`analyze pgmill.job_runs`.execute(db);
  await sql`analyze pgmill.dead_letters`.execute(db);
}
