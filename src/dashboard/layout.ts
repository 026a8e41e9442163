import type { PayloadMode } from "../config/config.js";
import type { ActionName } from "./actions.js";
import { html, type Html } from "./html.js";

/**
 * What a page may show its visitor: `read-only` when no token is configured,
 * `locked` when one is but this browser has not logged in, `unlocked` with a
 * session (then `csrf` is its token, which every action form carries).
 */
export type Access = "read-only" | "locked" | "unlocked";

export interface View {
  readonly path: string;
  readonly access: Access;
  readonly csrf: string | null;
  readonly flash: { readonly text: string; readonly error: boolean } | null;
  readonly payloadMode: PayloadMode;
}

const NAV = [
  ["/", "Overview"],
  ["/jobs", "Jobs"],
  ["/runs", "History"],
  ["/dead-letters", "Dead letters"],
  ["/cron", "Cron"],
  ["/daemons", "Daemons"],
] as const;

/** Seconds between live refreshes of a page. */
const REFRESH_SECONDS = 5;

export function layout(view: View, title: string, body: Html, options: { refresh?: boolean } = {}): Html {
  const section = "/" + (view.path.split("?")[0]!.split("/")[1] ?? "");
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · pgmill</title>
<link rel="stylesheet" href="/assets/dashboard.css">
<link rel="icon" href="data:,">
<script src="/assets/dashboard.js" defer></script>
</head>
<body data-refresh="${options.refresh === false ? 0 : REFRESH_SECONDS}">
<header>
  <span class="brand">pgmill</span>
  <nav>${NAV.map(([href, label]) => html`<a href="${href}" class="${section === href ? "active" : ""}">${label}</a>`)}</nav>
  <span class="access">
    ${options.refresh === false ? "" : html`<label><input type="checkbox" id="live" checked> live</label> <span id="updated" class="muted"></span>`}
    ${accessBadge(view)}
  </span>
</header>
${view.flash ? html`<div class="flash ${view.flash.error ? "error" : ""}" role="status">${view.flash.text}</div>` : ""}
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

function accessBadge(view: View): Html {
  switch (view.access) {
    case "read-only":
      return html`<span class="badge" title="Set PGMILL_DASHBOARD_TOKEN to enable actions">read-only</span>`;
    case "locked":
      return html`<span class="badge">read-only</span> <a href="/login">log in to act</a>`;
    case "unlocked":
      return html`<span class="badge ok">actions enabled</span>
        <form class="inline" method="post" action="/logout"><input type="hidden" name="_csrf" value="${view.csrf}"><button>log out</button></form>`;
  }
}

/**
 * A button that POSTs one action with its fields and the session's CSRF token,
 * then comes back to this page. Nothing is rendered unless the visitor may act.
 */
export function actionForm(
  view: View,
  action: ActionName,
  fields: Record<string, string>,
  label: string,
  options: { confirm?: string; extra?: Html } = {},
): Html | string {
  if (view.access !== "unlocked" || !view.csrf) return "";
  return html`<form class="inline" method="post" action="/actions/${action}" data-confirm="${options.confirm ?? ""}">
    <input type="hidden" name="_csrf" value="${view.csrf}">
    <input type="hidden" name="back" value="${view.path}">
    ${Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
    ${options.extra ?? ""}
    <button class="act" type="submit" data-action="${action}">${label}</button>
  </form>`;
}
