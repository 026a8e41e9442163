import path from "node:path";
import { formatInZone, readCronLines } from "../../status/cron-lines.js";
import { html, type Html } from "../html.js";
import type { View } from "../layout.js";
import type { PageDeps } from "./deps.js";

const NEXT_RUNS = 3;

/**
 * The crontab's lines, as `pgmill status` and `pgmill cron check` read them,
 * with the next runs in each line's own time zone. (Pause, resume and run-now
 * will be actions on each row once pgmill.pause_cron and friends exist.)
 */
export async function cronPage({ crontabPath, tasks }: PageDeps, _view: View): Promise<Html> {
  const { lines, problems } = await readCronLines(crontabPath, tasks, NEXT_RUNS);
  return html`
<p class="muted">From ${path.basename(crontabPath)}, as this dashboard's PGMILL_CRONTAB and PGMILL_TASKS find it.</p>
${problems.length ? html`<h2>Problems</h2><ul class="problems">${problems.map((p) => html`<li>${p}</li>`)}</ul>` : ""}
${
  lines.length
    ? html`<table id="cron"><thead><tr><th class="num">line</th><th>id</th><th>task</th><th>time zone</th><th>next runs (local time)</th><th>next run (UTC)</th></tr></thead>
<tbody>${lines.map(
        (l) => html`<tr><td class="num">${l.line}</td><td>${l.id}</td><td><a href="/runs?task=${encodeURIComponent(l.task)}">${l.task}</a></td><td>${l.timezone}</td>
  <td>${l.nextRuns.map((d, i) => html`${i ? html`<br>` : ""}${formatInZone(d, l.timezone, l.subMinute)}`)}</td><td>${l.nextRuns[0]?.toISOString().slice(0, 16).replace("T", " ") ?? ""}</td></tr>`,
      )}</tbody></table>`
    : problems.length
      ? ""
      : html`<p class="muted">No schedules.</p>`
}`;
}
