import path from "node:path";
import { cronLineStatus } from "../../controls/cron-lines.js";
import { formatInZone, readCronLines, type CronLine } from "../../status/cron-lines.js";
import { pausedUnpublishedCronLines } from "../cron-queries.js";
import { html, time, type Html } from "../html.js";
import { actionForm, type View } from "../layout.js";
import type { PageDeps } from "./deps.js";

const NEXT_RUNS = 3;

type Published = Awaited<ReturnType<typeof cronLineStatus>>[number];

/** One row: a line the daemons published (pgmill.cron_lines), this dashboard's crontab has, or both. */
interface Row {
  readonly id: string;
  readonly task: string | null;
  readonly schedule: string | null;
  readonly timezone: string;
  readonly overlap: string | null;
  readonly subMinute: boolean;
  readonly nextRuns: readonly Date[];
  readonly fileLine: number | null;
  /** This dashboard's crontab has the line with another schedule or time zone than the daemons loaded. */
  readonly differs: string | null;
  readonly published: Published | null;
  readonly pausedSince: Date | null;
}

/**
 * The crontab's lines: what the daemons loaded (pgmill.cron_lines, as `pgmill
 * status` shows it: paused since, last run, last run by hand) merged with this
 * dashboard's crontab (line numbers, the next runs in each line's time zone).
 * Pause, resume and run now act on the daemons' lines, so a line only in the
 * file has none.
 */
export async function cronPage({ db, crontabPath, tasks }: PageDeps, view: View): Promise<Html> {
  const [{ lines, problems }, published, orphans] = await Promise.all([readCronLines(crontabPath, tasks, NEXT_RUNS), cronLineStatus(db), pausedUnpublishedCronLines(db)]);
  const rows = mergeRows(lines, published, orphans);
  const acting = view.access === "unlocked";
  return html`
<p class="muted">The lines the daemons loaded (<code>pgmill.cron_lines</code>) and those of ${path.basename(crontabPath)}, this dashboard's PGMILL_CRONTAB.
Next runs are in each line's own time zone; a paused line's are not enqueued (nor run later).</p>
${problems.length ? html`<h2>Problems</h2><ul class="problems">${problems.map((p) => html`<li>${p}</li>`)}</ul>` : ""}
${
  rows.length
    ? html`<table id="cron"><thead><tr><th>id</th><th>task</th><th>schedule</th><th>time zone</th><th>state</th>
<th>next runs (local time)</th><th>next run (UTC)</th><th>last run</th>${acting ? html`<th></th>` : ""}</tr></thead>
<tbody>${rows.map((r) => rowHtml(r, view, acting))}</tbody></table>`
    : problems.length
      ? ""
      : html`<p class="muted">No schedules.</p>`
}`;
}

function rowHtml(r: Row, view: View, acting: boolean): Html {
  const utc = r.nextRuns[0]?.toISOString().slice(0, r.subMinute ? 19 : 16).replace("T", " ") ?? "";
  const next = r.pausedSince ? "skipped" : "";
  return html`<tr data-cron="${r.id}"><td class="nowrap">${r.id}${r.fileLine ? html`<br><span class="muted">line ${r.fileLine}</span>` : ""}</td>
  <td class="nowrap">${r.task ? html`<a href="/runs?task=${encodeURIComponent(r.task)}">${r.task}</a>` : ""}</td>
  <td><code class="nowrap">${r.schedule ?? ""}</code>${r.overlap ? html`<br><span class="muted nowrap" data-overlap="${r.overlap}">overlap ${r.overlap}</span>` : ""}${r.differs ? html`<br><span class="muted">${r.differs}</span>` : ""}</td>
  <td>${r.timezone}</td><td>${state(r)}</td>
  <td class="nowrap ${next}">${r.nextRuns.map((d, i) => html`${i ? html`<br>` : ""}${formatInZone(d, r.timezone, r.subMinute)}`)}</td><td class="nowrap ${next}">${utc}</td>
  <td>${time(r.published?.last_run)}${r.published?.last_run_by_hand ? html`${r.published.last_run ? html`<br>` : ""}<span class="muted">by hand</span> ${time(r.published.last_run_by_hand)}` : ""}</td>
  ${acting ? html`<td class="actions">${actions(r, view)}</td>` : ""}</tr>`;
}

function state(r: Row): Html {
  if (r.pausedSince) return html`<span class="badge warn" data-state="paused">paused</span><br><span class="muted">since ${time(r.pausedSince)}</span>`;
  if (!r.published) return html`<span class="badge" data-state="unpublished" title="no daemon has loaded this line (yet): pause, resume and run now act on the daemons' lines">not loaded</span>`;
  return html`<span class="badge ok" data-state="active">active</span>`;
}

function actions(r: Row, view: View): Html | string {
  if (!r.published) return r.pausedSince ? actionForm(view, "resume-cron", { id: r.id }, "resume") : "";
  return html`${
    r.pausedSince ? actionForm(view, "resume-cron", { id: r.id }, "resume") : actionForm(view, "pause-cron", { id: r.id }, "pause", { confirm: `Pause crontab line ${r.id} on every daemon? Its ticks while paused are not run later.` })
  } ${actionForm(view, "run-cron-now", { id: r.id }, "run now", { confirm: `Enqueue a job of crontab line ${r.id} now?` })}`;
}

/** The file's lines in file order (with the daemons' state where published), then lines only the daemons have, then pauses of lines no daemon has. */
function mergeRows(lines: readonly CronLine[], published: readonly Published[], orphans: readonly { id: string; paused_since: Date }[]): Row[] {
  const byId = new Map(published.map((p) => [p.id, p]));
  const rows: Row[] = lines.map((l) => {
    const p = byId.get(l.id) ?? null;
    byId.delete(l.id);
    const same = !p || (p.schedule === l.schedule && (p.timezone ?? "UTC") === l.timezone);
    return {
      id: l.id,
      task: p?.task ?? l.task,
      schedule: p?.schedule ?? l.schedule,
      timezone: p ? (p.timezone ?? "UTC") : l.timezone,
      overlap: p?.overlap ?? l.overlap,
      subMinute: p ? p.schedule.startsWith("@every") : l.subMinute,
      // The daemons run their own copy: when this file says otherwise, only their next tick is known.
      nextRuns: same ? l.nextRuns : p?.next_run ? [p.next_run] : [],
      fileLine: l.line,
      differs: same ? null : `this dashboard's crontab: ${l.schedule} (${l.timezone})`,
      published: p,
      pausedSince: p?.paused_since ?? null,
    };
  });
  for (const p of byId.values()) {
    rows.push({
      id: p.id,
      task: p.task,
      schedule: p.schedule,
      timezone: p.timezone ?? "UTC",
      overlap: p.overlap,
      subMinute: p.schedule.startsWith("@every"),
      nextRuns: p.next_run ? [p.next_run] : [],
      fileLine: null,
      differs: null,
      published: p,
      pausedSince: p.paused_since,
    });
  }
  for (const o of orphans) {
    rows.push({ id: o.id, task: null, schedule: null, timezone: "UTC", overlap: null, subMinute: false, nextRuns: [], fileLine: null, differs: "in no daemon's crontab now", published: null, pausedSince: o.paused_since });
  }
  return rows;
}
