import { pendingCancelsOf } from "../../controls/cancel-queries.js";
import { duration, html, payloadBlock, short, time, type Html } from "../html.js";
import { liveJob } from "../../engine/live-jobs.js";
import { attemptsOf, deadLetterOf, lastRunPayload } from "../job-queries.js";
import { actionForm, type View } from "../layout.js";
import type { PageDeps } from "./deps.js";

/** One job: its live row if it is still queued, every recorded attempt, its dead letter, its payload. */
export async function jobPage({ db }: PageDeps, view: View, id: string): Promise<Html | null> {
  const [live, attempts, letter, payload, cancels] = await Promise.all([
    liveJob(db, id),
    attemptsOf(db, id),
    deadLetterOf(db, id),
    lastRunPayload(db, id),
    pendingCancelsOf(db, [id]),
  ]);
  const cancel = cancels[0];
  if (!live && !attempts.length && !letter) return null;
  const task = live?.task ?? attempts[0]?.task ?? letter?.task ?? "";
  return html`
<dl class="fields">
  <dt>task</dt><dd>${task}</dd>
  <dt>now</dt><dd>${
    live
      ? html`in the queue: ${live.locked_at ? html`<span class="badge running">running</span> since ${time(live.locked_at)} (${live.locked_by})` : html`due ${time(live.run_at)}`}, attempt ${live.attempts} of ${live.max_attempts}${live.queue ? `, queue ${live.queue}` : ""}`
      : letter
        ? html`<span class="badge dead">dead</span> since ${time(letter.died_at)} (${letter.reason})`
        : html`finished (no longer in the queue)`
  }</dd>
  ${
    cancel
      ? html`<dt>cancel</dt><dd><span class="badge cancelled">cancelling</span> asked ${time(cancel.requested_at)} by ${cancel.requested_by}: the handler is being aborted</dd>`
      : live
        ? html`<dt></dt><dd>${actionForm(view, "cancel-job", { id }, "cancel this job", { confirm: `Cancel job ${id}?` })}</dd>`
        : ""
  }
  ${live?.key ? html`<dt>job key</dt><dd>${live.key}</dd>` : ""}
  ${live?.last_error ? html`<dt>last error</dt><dd>${short(live.last_error, 500)}</dd>` : ""}
</dl>
<h2>Attempts</h2>
${
  attempts.length
    ? html`<table id="attempts"><thead><tr><th class="num">attempt</th><th>status</th><th>started</th><th>finished</th><th class="num">duration</th><th>error</th><th>daemon</th></tr></thead>
<tbody>${attempts.map(
        (a) => html`<tr><td class="num">${a.attempt}/${a.max_attempts}</td><td><span class="badge ${a.status}">${a.status}</span></td><td>${time(a.started_at)}</td><td>${time(a.finished_at)}</td>
  <td class="num">${duration(a.duration_ms)}</td><td>${a.error_stack ? html`<details><summary>${short(a.error_message, 200)}</summary><pre>${a.error_stack}</pre></details>` : short(a.error_message, 200)}</td>
  <td>${a.daemon_id}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="muted">No attempt recorded yet.</p>`
}
${
  letter
    ? html`<h2>Dead letter ${letter.id}</h2>
<dl class="fields"><dt>reason</dt><dd>${letter.reason}</dd><dt>attempts</dt><dd>${letter.attempts}/${letter.max_attempts}</dd>
<dt>last error</dt><dd>${short(letter.last_error, 500)}</dd>
<dt>retried</dt><dd>${letter.retried_at ? html`${time(letter.retried_at)} as job <a href="/jobs/${letter.retried_as_job_id}">${letter.retried_as_job_id}</a>` : actionForm(view, "retry-dead-letter", { id: letter.id }, "retry") || "not yet"}</dd></dl>`
    : ""
}
<h2>Payload</h2>
${attempts.length ? payloadBlock(view.payloadMode, payload) : letter ? payloadBlock(view.payloadMode, letter.payload) : html`<p class="muted">Shown once an attempt is recorded (the queue's own copy is graphile-worker's).</p>`}`;
}
