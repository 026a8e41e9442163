import { z } from "zod";
import { listDeadLetters } from "../../dead-letters/queries.js";
import { name, parseQuery } from "../filters.js";
import { html, short, time, type Html } from "../html.js";
import { actionForm, type View } from "../layout.js";
import type { PageDeps } from "./deps.js";

const LIMIT = 200;

const lettersQuery = z.object({ task: name.optional(), all: z.literal("1").optional() });

/** Dead letters, newest first (the newest 200), with retry, retry all and purge. */
export async function deadLettersPage({ db }: PageDeps, view: View, params: Record<string, string>): Promise<Html> {
  const filter = parseQuery(lettersQuery, params);
  const letters = await listDeadLetters(db, { task: filter.task, includeRetried: filter.all === "1", limit: LIMIT });
  return html`
<form class="filters" method="get" action="/dead-letters">
  <label>task <input name="task" value="${filter.task ?? ""}"></label>
  <label><span><input type="checkbox" name="all" value="1" ${filter.all ? "checked" : ""}> include retried</span></label>
  <button>filter</button> <a href="/dead-letters">clear</a>
</form>
<p>
  ${actionForm(view, "retry-dead-letters", filter.task ? { task: filter.task } : {}, filter.task ? `retry every pending ${filter.task} letter` : "retry every pending letter", {
    confirm: "Re-enqueue every pending dead letter shown by this filter?",
  })}
  ${actionForm(view, "purge-dead-letters", {}, "purge", {
    confirm: "Delete dead letters older than the given age?",
    extra: html`<label>older than <input name="olderThan" value="30d" size="5"></label>`,
  })}
</p>
${
  letters.length
    ? html`<table id="dead-letters"><thead><tr><th class="num">id</th><th>job</th><th>task</th><th>reason</th><th class="num">attempts</th><th>died</th><th>last error</th><th>retried</th><th></th></tr></thead>
<tbody>${letters.map(
        (d) => html`<tr data-letter="${d.id}"><td class="num">${d.id}</td><td><a href="/jobs/${d.job_id}">${d.job_id}</a></td><td>${d.task}</td><td>${d.reason}</td>
  <td class="num">${d.attempts}/${d.max_attempts}</td><td>${time(d.died_at)}</td><td>${short(d.last_error)}</td>
  <td>${d.retried_at ? html`${time(d.retried_at)} as <a href="/jobs/${d.retried_as_job_id}">${d.retried_as_job_id}</a>` : ""}</td>
  <td>${d.retried_at ? "" : actionForm(view, "retry-dead-letter", { id: d.id }, "retry")}</td></tr>`,
      )}</tbody></table>
${letters.length === LIMIT ? html`<p class="muted">The newest ${LIMIT}; narrow by task, or use <code>pgmill dlq list</code>.</p>` : ""}`
    : html`<p class="muted">No dead letters${filter.task ? ` for task ${filter.task}` : ""}.</p>`
}`;
}
