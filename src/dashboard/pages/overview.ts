import { pausedTasks } from "../../controls/pause-queries.js";
import { limitedTaskStatus } from "../../controls/task-limit-queries.js";
import { failureRateChart, throughputChart } from "../charts.js";
import { duration, html, time, type Html } from "../html.js";
import { actionForm, type View } from "../layout.js";
import { liveCountsByTask } from "../../engine/live-jobs.js";
import { deadCountsByTask, MAX_TASKS, taskStats, throughput } from "../overview-queries.js";
import type { PageDeps } from "./deps.js";

const hhmm = (d: Date) => d.toISOString().slice(11, 16);
const dayHour = (d: Date) => `${d.toISOString().slice(5, 10)} ${d.toISOString().slice(11, 16)}`;

/**
 * Per task: live job counts, dead letters, runs and durations over 24 h;
 * throughput and failure rate charts; the paused tasks, and the limited ones
 * (as this dashboard's task catalog declares their limits, like `pgmill status`).
 */
export async function overviewPage({ db, tasks: catalog }: PageDeps, view: View): Promise<Html> {
  const [live, dead, stats, hour, day, paused, limits] = await Promise.all([
    liveCountsByTask(db, MAX_TASKS),
    deadCountsByTask(db),
    taskStats(db),
    throughput(db, 3600, 60),
    throughput(db, 86_400, 3600),
    pausedTasks(db),
    limitedTaskStatus(db, Object.values(catalog)),
  ]);
  const pausedByTask = new Map(paused.map((p) => [p.task, p]));
  const tasks = new Map<string, { queued: number; scheduled: number; running: number; failed: number; dead: number; runs: number; failedRuns: number; p50: number | null; p95: number | null }>();
  const row = (task: string) => {
    let entry = tasks.get(task);
    if (!entry) tasks.set(task, (entry = { queued: 0, scheduled: 0, running: 0, failed: 0, dead: 0, runs: 0, failedRuns: 0, p50: null, p95: null }));
    return entry;
  };
  for (const l of live) Object.assign(row(l.task), { queued: l.queued, scheduled: l.scheduled, running: l.running, failed: l.failed });
  for (const d of dead) row(d.task).dead = d.dead;
  for (const p of paused) row(p.task);
  for (const s of stats) Object.assign(row(s.task), { runs: Number(s.runs), failedRuns: Number(s.failed), p50: s.p50_ms, p95: s.p95_ms });
  const link = (task: string, state: string, count: number) =>
    count ? html`<a href="/jobs?task=${encodeURIComponent(task)}&amp;state=${state}">${count}</a>` : html`<span class="muted">0</span>`;
  const sum = (buckets: typeof hour) => buckets.reduce((acc, b) => ({ ok: acc.ok + b.succeeded, bad: acc.bad + b.failed }), { ok: 0, bad: 0 });
  const rate = ({ ok, bad }: { ok: number; bad: number }) => (ok + bad ? `${((bad / (ok + bad)) * 100).toFixed(1)}%` : "–");
  const hourSum = sum(hour);
  const daySum = sum(day);
  return html`
<section class="charts">
  <figure><figcaption>Attempts per minute, last hour (${hourSum.ok + hourSum.bad}; <span class="badge succeeded">succeeded</span> <span class="badge failed">not</span>)</figcaption>${throughputChart(hour, hhmm)}</figure>
  <figure><figcaption>Failure rate per minute, last hour (${rate(hourSum)})</figcaption>${failureRateChart(hour, hhmm)}</figure>
  <figure><figcaption>Attempts per hour, last 24 hours (${daySum.ok + daySum.bad})</figcaption>${throughputChart(day, dayHour)}</figure>
  <figure><figcaption>Failure rate per hour, last 24 hours (${rate(daySum)})</figcaption>${failureRateChart(day, dayHour)}</figure>
</section>
<h2>Tasks</h2>
${
  tasks.size
    ? html`<table id="tasks">
  <thead><tr><th>task</th><th class="num">queued</th><th class="num">scheduled</th><th class="num">running</th><th class="num" title="live jobs whose last attempt failed: waiting for a retry">failed</th><th class="num" title="dead letters not yet retried">dead</th><th class="num">runs 24 h</th><th class="num">failed runs 24 h</th><th class="num">p50</th><th class="num">p95</th><th></th></tr></thead>
  <tbody>${[...tasks.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([task, t]) => html`<tr>
    <td><a href="/runs?task=${encodeURIComponent(task)}">${task}</a>${pausedByTask.has(task) ? html` <span class="badge warn" title="paused ${pausedByTask.get(task)!.paused_at.toISOString()} by ${pausedByTask.get(task)!.paused_by}; ${pausedByTask.get(task)!.held_jobs} jobs held">paused</span>` : ""}</td>
    <td class="num">${link(task, "queued", t.queued)}</td><td class="num">${link(task, "scheduled", t.scheduled)}</td>
    <td class="num">${link(task, "running", t.running)}</td><td class="num">${link(task, "failed", t.failed)}</td>
    <td class="num">${t.dead ? html`<a href="/dead-letters?task=${encodeURIComponent(task)}">${t.dead}</a>` : html`<span class="muted">0</span>`}</td>
    <td class="num">${t.runs}</td><td class="num">${t.failedRuns}</td>
    <td class="num">${duration(t.p50)}</td><td class="num">${duration(t.p95)}</td>
    <td>${pausedByTask.has(task) ? actionForm(view, "resume-task", { task }, "resume") : actionForm(view, "pause-task", { task }, "pause", { confirm: `Pause task ${task} on every daemon?` })}</td></tr>`,
    )}</tbody></table>`
    : html`<p class="muted">No jobs, history or dead letters yet.</p>`
}
${paused.length ? pausedSection(paused, view) : ""}
${limits.length ? limitsSection(limits) : ""}`;
}

function pausedSection(paused: Awaited<ReturnType<typeof pausedTasks>>, view: View): Html {
  return html`<h2>Paused tasks</h2>
<table id="paused-tasks"><thead><tr><th>task</th><th>paused since</th><th>by</th><th class="num" title="queued jobs held at run_at infinity until the resume">held jobs</th><th></th></tr></thead>
<tbody>${paused.map(
    (p) => html`<tr><td><a href="/jobs?task=${encodeURIComponent(p.task)}">${p.task}</a></td><td>${time(p.paused_at)}</td><td>${p.paused_by}</td><td class="num">${p.held_jobs}</td>
  <td>${actionForm(view, "resume-task", { task: p.task }, "resume")}</td></tr>`,
  )}</tbody></table>`;
}

/** Only when a task has a limit (most have none): each limit with its use now, over all daemons. */
function limitsSection(limits: Awaited<ReturnType<typeof limitedTaskStatus>>): Html {
  const none = html`<span class="muted">–</span>`;
  return html`<h2>Limited tasks</h2>
<p class="muted">Cluster-wide limits as this dashboard's PGMILL_TASKS declares them, with their use now over all daemons.</p>
<table id="limited-tasks"><thead><tr><th>task</th><th class="num">concurrency</th><th class="num">running</th><th class="num" title="jobs waiting for a slot">waiting</th><th>rate limit</th><th class="num">started this window</th></tr></thead>
<tbody>${limits.map(
    (l) => html`<tr data-task="${l.task}"><td><a href="/jobs?task=${encodeURIComponent(l.task)}">${l.task}</a></td>
  <td class="num">${l.concurrency ?? none}</td><td class="num">${l.running ?? none}</td><td class="num">${l.waiting_for_slot ?? none}</td>
  <td>${l.rate_limit ?? none}</td><td class="num">${l.started_this_window ?? none}</td></tr>`,
  )}</tbody></table>`;
}
