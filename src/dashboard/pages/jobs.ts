import { z } from "zod";
import { instant, inputTime, name, parseQuery } from "../filters.js";
import { html, query, short, time, type Html } from "../html.js";
import { LIVE_STATES, listLiveJobs } from "../../engine/live-jobs.js";
import { actionForm, type View } from "../layout.js";
import { bigintId } from "../../cli/arguments.js";
import type { PageDeps } from "./deps.js";

const PAGE = 50;

const jobsQuery = z.object({
  task: name.optional(),
  state: z.enum(LIVE_STATES).optional(),
  queue: name.optional(),
  from: instant.optional(),
  to: instant.optional(),
  before: bigintId.optional(),
});

/** Live jobs (graphile-worker's view), filtered by task, state, queue and creation time, newest first. */
export async function jobsPage({ db }: PageDeps, view: View, params: Record<string, string>): Promise<Html> {
  const filter = parseQuery(jobsQuery, params);
  const rows = await listLiveJobs(db, { ...filter, limit: PAGE + 1 });
  const shown = rows.slice(0, PAGE);
  const more = rows.length > PAGE;
  const kept = { task: filter.task, state: filter.state, queue: filter.queue, from: params.from, to: params.to };
  return html`
<form class="filters" method="get" action="/jobs">
  <label>task <input name="task" value="${filter.task ?? ""}"></label>
  <label>state <select name="state"><option value="">any</option>${LIVE_STATES.map((s) => html`<option ${s === filter.state ? "selected" : ""}>${s}</option>`)}</select></label>
  <label>queue <input name="queue" value="${filter.queue ?? ""}"></label>
  <label>created from (UTC) <input type="datetime-local" name="from" value="${inputTime(filter.from)}"></label>
  <label>to (UTC) <input type="datetime-local" name="to" value="${inputTime(filter.to)}"></label>
  <button>filter</button> <a href="/jobs">clear</a>
</form>
<p class="muted">Jobs waiting, scheduled or running now. Finished attempts are under <a href="/runs">History</a>; jobs that failed for good under <a href="/dead-letters">Dead letters</a>.</p>
${
  shown.length
    ? html`<table id="jobs"><thead><tr><th>id</th><th>task</th><th>state</th><th>queue</th><th class="num">attempts</th><th>run at</th><th>created</th><th>last error</th><th></th></tr></thead>
<tbody>${shown.map(
        (j) => html`<tr><td><a href="/jobs/${j.id}">${j.id}</a></td><td>${j.task}</td><td>${stateBadge(j)}</td><td>${j.queue ?? ""}</td>
  <td class="num">${j.attempts}/${j.max_attempts}</td><td>${time(j.run_at)}</td><td>${time(j.created_at)}</td><td>${short(j.last_error)}</td>
  <td>${actionForm(view, "cancel-job", { id: j.id }, "cancel", { confirm: `Cancel job ${j.id}?` })}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="muted">No live jobs match.</p>`
}
<div class="pager">
  ${filter.before ? html`<a href="/jobs${query(kept)}">newest</a>` : ""}
  ${more ? html`<a rel="next" href="/jobs${query({ ...kept, before: shown.at(-1)!.id })}">older →</a>` : ""}
</div>`;
}

function stateBadge(job: { locked_at: Date | null; last_error: string | null; run_at: Date }): Html {
  const state = job.locked_at ? "running" : job.last_error !== null ? "failed" : job.run_at > new Date() ? "scheduled" : "queued";
  return html`<span class="badge ${state}">${state}</span>`;
}
