import type { PayloadMode } from "../config/config.js";
import type { DeadLetterReason, RunStatus } from "../db/schema.js";

/** One attempt's history row, as the daemon hands it to the ledger. */
export interface RunRecord {
  readonly id: string;
  readonly jobId: string;
  readonly task: string;
  readonly queue: string | null;
  readonly jobKey: string | null;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly status: RunStatus;
  readonly error: { readonly message: string; readonly stack: string | null } | null;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  readonly daemonId: string;
  readonly payload: unknown;
}

/** Everything needed to re-run a job that died. */
export interface DeadLetterRecord {
  readonly jobId: string;
  readonly jobRevision: number;
  readonly task: string;
  readonly payload: unknown;
  readonly queue: string | null;
  readonly priority: number;
  readonly jobKey: string | null;
  readonly flags: string[] | null;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly jobCreatedAt: Date | null;
  readonly reason: DeadLetterReason;
  readonly daemonId: string;
}

/** A history row, and the dead letter to write in the same transaction if the job died. */
export interface LedgerEntry {
  readonly run: RunRecord;
  readonly deadLetter?: DeadLetterRecord;
}

export const MAX_ERROR_MESSAGE_BYTES = 8192;
export const MAX_ERROR_STACK_BYTES = 16384;

/** Cuts text to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  const fullMarker = "…[truncated]";
  const marker = Buffer.byteLength(fullMarker) <= maxBytes ? fullMarker : "";
  let end = Math.max(0, maxBytes - Buffer.byteLength(marker));
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off a continuation byte
  return bytes.subarray(0, end).toString("utf8") + marker;
}

/** Postgres text and jsonb cannot hold NUL characters; everything else is kept. */
export function storableText(text: string, maxBytes: number): string {
  return truncateUtf8(text.replaceAll("\u0000", "\uFFFD"), maxBytes);
}

/** JSON for a jsonb column: graphile-worker's `json` payloads may hold \u0000 (in keys too), jsonb may not. */
export function toJsonb(value: unknown): string {
  const json = JSON.stringify(value) ?? "null";
  // The common case costs one scan; only payloads with an escaped NUL are rebuilt.
  return json.includes("\\u0000") ? JSON.stringify(withoutNul(value)) : json;
}

function withoutNul(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("\u0000", "\uFFFD");
  if (Array.isArray(value)) return value.map(withoutNul);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replaceAll("\u0000", "\uFFFD"), withoutNul(v)]));
  }
  return value;
}

/** The payload as the history table keeps it, per PGMILL_HISTORY_PAYLOAD. */
export function payloadForHistory(mode: PayloadMode, payload: unknown): unknown {
  if (mode === "omitted") return null;
  if (mode === "stored") return payload ?? null;
  return redact(payload);
}

/** Keeps the shape (keys, array lengths) and hides every value. */
function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v)]));
  }
  return value === null || value === undefined ? null : "[redacted]";
}
