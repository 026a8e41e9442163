import { z } from "zod";
import { RUN_STATUSES } from "../../db/schema.js";
import { instant, inputTime, name, parseQuery, since } from "../filters.js";
import { duration, html, query, short, time, type Html } from "../html.js";
import { listRuns } from "../job-queries.js";
import type { View } from "../layout.js";
import type { PageDeps } from "./deps.js";

const PAGE = 50;
const DEFAULT_SINCE = 86_400;

const runsQuery = z.object({
  task: name.optional(),
  status: z.enum(RUN_STATUSES).optional(),
  queue: name.optional(),
  since: since.optional(),
  from: instant.optional(),
  to: instant.optional(),
  after: z.string().regex(/^\d{4}-\d{2}-\d{2}T[\d:.]+Z~[0-9a-f-]{36}$/, "expected a paging cursor").optional(),
});

/**
 * Attempts from history, newest first. Without `from` it shows the last
 * `since` (24 hours by default): a bounded range, so the index scan stops.
 */
export async function runsPage({ db }: PageDeps, _view: View, params: Record<string, string>): Promise<Html> {
  const filter = parseQuery(runsQuery, params);
  const from = filter.from ?? new Date(Date.now() - (filter.since ?? DEFAULT_SINCE) * 1000);
  const [startedAt, id] = filter.after?.split("~") ?? [];
  const rows = await listRuns(db, {
    task: filter.task,
    status: filter.status,
    queue: filter.queue,
    from,
    to: filter.to,
    after: startedAt && id ? { startedAt, id } : undefined,
    limit: PAGE + 1,
  });
  const shown = rows.slice(0, PAGE);
  const kept = { task: filter.task, status: filter.status, queue: filter.queue, since: params.since, from: params.from, to: params.to };
  const last = shown.at(-1);
  return html`
<form class="filters" method="get" action="/runs">
  <label>task <input name="task" value="${filter.task ?? ""}"></label>
  <label>status <select name="status"><option value="">any</option>${RUN_STATUSES.map((s) => html`<option ${s === filter.status ? "selected" : ""}>${s}</option>`)}</select></label>
  <label>queue <input name="queue" value="${filter.queue ?? ""}"></label>
  <label>last <input name="since" size="5" placeholder="24h" value="${params.since ?? ""}"></label>
  <label>or from (UTC) <input type="datetime-local" name="from" value="${inputTime(filter.from)}"></label>
  <label>to (UTC) <input type="datetime-local" name="to" value="${inputTime(filter.to)}"></label>
  <button>filter</button> <a href="/runs">clear</a>
</form>
<p class="muted">Attempts started since ${time(from)}${filter.to ? html` and before ${time(filter.to)}` : ""}, newest first.</p>
${
  shown.length
    ? html`<table id="runs"><thead><tr><th>job</th><th>task</th><th>queue</th><th class="num">attempt</th><th>status</th><th>started</th><th class="num">duration</th><th>error</th><th>daemon</th></tr></thead>
<tbody>${shown.map(
        (r) => html`<tr><td><a href="/jobs/${r.job_id}">${r.job_id}</a></td><td>${r.task}</td><td>${r.queue ?? ""}</td><td class="num">${r.attempt}/${r.max_attempts}</td>
  <td><span class="badge ${r.status}">${r.status}</span></td><td>${time(r.started_at)}</td><td class="num">${duration(r.duration_ms)}</td><td>${short(r.error_message)}</td><td>${short(r.daemon_id, 40)}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="muted">No attempts match.</p>`
}
<div class="pager">
  ${filter.after ? html`<a href="/runs${query(kept)}">newest</a>` : ""}
  ${rows.length > PAGE && last ? html`<a rel="next" href="/runs${query({ ...kept, after: `${last.cursor}~${last.id}` })}">older →</a>` : ""}
</div>`;
}
