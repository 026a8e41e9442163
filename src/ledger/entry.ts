import type { PayloadMode } from "../config/config.js";
import type { DeadLetterReason, RescheduleReason, RunStatus } from "../db/schema.js";

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

/** A request to reschedule the job once the engine has released it (sql/0008, src/engine/job-reschedules.ts). */
export interface RescheduleRecord {
  readonly runAt: Date;
  /** The attempts count to restore; null keeps the engine's. */
  readonly attempts: number | null;
  readonly reason: RescheduleReason;
}

/** A history row, and the dead letter (or reschedule request) to write in the same transaction. */
export interface LedgerEntry {
  readonly run: RunRecord;
  readonly deadLetter?: DeadLetterRecord;
  /**
   * A retry at the task's own schedule: written with the row, so a kill -9
   * cannot keep one without the other. A stale entry drops it.
   */
  readonly reschedule?: RescheduleRecord;
  /**
   * An attempt's outcome is applied only while its daemon still holds the
   * job's lock (one of these engine lock ids); otherwise the row is written
   * as `stale` and the writer told so, and the job is left to its holder.
   */
  readonly heldBy?: readonly string[];
}

/** How an entry was written: as given, or as a late outcome of a job this daemon no longer held. */
export type Recorded = "recorded" | "stale";

/** The row of an outcome that came too late to apply: status `stale`, no dead letter. */
export function staleEntry(entry: LedgerEntry): LedgerEntry {
  const { run } = entry;
  const message =
    `finished after this daemon lost the job's lock (a peer reaped it); its outcome (${run.status}) was not applied` +
    (run.error ? `: ${run.error.message}` : "");
  return { run: { ...run, status: "stale", error: { message, stack: run.error?.stack ?? null } } };
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
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    // Postgres takes JSON nested deeper than JSON.stringify can recurse.
  }
  // The common case costs one scan; only payloads with an escaped NUL (or too deep) are rebuilt.
  if (json !== undefined && !json.includes("\\u0000")) return json;
  return stringifyDeep(value, { text: (s) => s.replaceAll("\u0000", "\uFFFD") });
}

/** The payload as the history table keeps it, per PGMILL_HISTORY_PAYLOAD. */
export function payloadForHistory(mode: PayloadMode, payload: unknown): unknown {
  if (mode === "omitted") return null;
  if (mode === "stored") return payload ?? null;
  // Keeps the shape (keys, array lengths) and hides every value.
  return JSON.parse(stringifyDeep(payload, { leaf: (v) => (v === null || v === undefined ? null : "[redacted]") }));
}

class Token {
  constructor(readonly text: string) {}
}

/**
 * JSON.stringify for parsed JSON, with an explicit stack instead of recursion:
 * a payload can nest deeper than the call stack (Postgres accepts it, JSON.parse
 * reads it, JSON.stringify throws). `text` maps strings and keys, `leaf` every
 * other value.
 */
function stringifyDeep(value: unknown, map: { text?: (s: string) => string; leaf?: (v: unknown) => unknown }): string {
  const text = map.text ?? ((s: string) => s);
  const leaf = (v: unknown) => {
    const mapped = map.leaf ? map.leaf(v) : v;
    return typeof mapped === "string" ? JSON.stringify(text(mapped)) : JSON.stringify(mapped);
  };
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length) {
    const item = stack.pop();
    if (item instanceof Token) out.push(item.text);
    else if (Array.isArray(item)) {
      stack.push(new Token("]"));
      for (let i = item.length - 1; i >= 0; i--) stack.push(item[i] === undefined ? null : item[i], ...(i > 0 ? [new Token(",")] : []));
      stack.push(new Token("["));
    } else if (item && typeof item === "object" && typeof (item as { toJSON?: unknown }).toJSON !== "function") {
      const entries = Object.entries(item).filter(([, v]) => v !== undefined && typeof v !== "function");
      stack.push(new Token("}"));
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, v] = entries[i]!;
        stack.push(v, new Token(`${JSON.stringify(text(key))}:`), ...(i > 0 ? [new Token(",")] : []));
      }
      stack.push(new Token("{"));
    } else out.push(leaf(item) ?? "null");
  }
  return out.join("");
}
