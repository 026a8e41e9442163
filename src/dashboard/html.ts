import { html, raw } from "hono/html";
import type { PayloadMode } from "../config/config.js";
import { payloadForHistory, toJsonb } from "../ledger/entry.js";

// HTML through hono's `html` tagged template: every interpolated value is
// escaped unless it is itself `html` output, so no page builds markup from
// strings by hand.

export { html, raw };
export type Html = ReturnType<typeof html>;

/** UTC time, to the second, in a <time> element whose title is the full instant. */
export function time(value: Date | null | undefined): Html | string {
  if (!value) return "";
  // pg hands timestamptz 'infinity' (a paused task's held jobs, a job never due) over as a number or string, not a Date.
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) return String(value).replace("Infinity", "infinity");
  const iso = value.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 19).replace("T", " ")}</time>`;
}

/** 1234 ms -> "1.23 s"; under a second stays in ms. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** A long text cut for a table cell; the full text is in its title. */
export function short(text: string | null | undefined, max = 120): Html | string {
  if (!text) return "";
  const flat = text.replaceAll(/\s+/g, " ");
  return flat.length <= max ? flat : html`<span title="${text.slice(0, 2000)}">${flat.slice(0, max - 1)}…</span>`;
}

const MAX_PAYLOAD_CHARS = 64 * 1024;

/** A payload as PGMILL_HISTORY_PAYLOAD allows: whole, keys only, or not at all; cut at 64 KiB. */
export function payloadBlock(mode: PayloadMode, payload: unknown): Html {
  if (mode === "omitted") return html`<p class="muted">Payloads are not shown (PGMILL_HISTORY_PAYLOAD=omitted).</p>`;
  let text: string;
  try {
    text = JSON.stringify(payloadForHistory(mode, payload), null, 2) ?? "null";
  } catch {
    // Deeper than JSON.stringify can recurse: the ledger's stack-based writer handles it.
    text = mode === "stored" ? toJsonb(payload) : "(too deeply nested to redact)";
  }
  const cut = text.length > MAX_PAYLOAD_CHARS;
  return html`<pre class="payload">${cut ? `${text.slice(0, MAX_PAYLOAD_CHARS)}\n… (${text.length} characters, cut)` : text}</pre>
    ${mode === "redacted" ? html`<p class="muted">Values redacted (PGMILL_HISTORY_PAYLOAD=redacted).</p>` : ""}`;
}

/** A query string from the given filters, leaving out empty ones. */
export function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}
