import { daemons } from "../../status/status-queries.js";
import { html, time, type Html } from "../html.js";
import type { View } from "../layout.js";
import type { PageDeps } from "./deps.js";

/** Daemons seen in the last day, as `pgmill status` lists them. */
export async function daemonsPage({ db }: PageDeps, _view: View): Promise<Html> {
  const rows = await daemons(db);
  return rows.length
    ? html`<table id="daemons"><thead><tr><th>id</th><th>state</th><th>last beat</th><th class="num">jobs in flight</th><th>version</th><th>started</th></tr></thead>
<tbody>${rows.map(
        (d) => html`<tr><td>${d.id}</td><td><span class="badge ${d.state}">${d.state}</span></td><td>${time(d.last_seen)} <span class="muted">(${d.seconds_since_beat} s ago)</span></td>
  <td class="num">${d.jobs_in_flight}</td><td>${d.version}</td><td>${time(d.started_at)}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="muted">No daemon seen in the last 24 hours.</p>`;
}
