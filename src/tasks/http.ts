import { z } from "zod";
import type { Logger } from "../logging/logger.js";
import { isHostAllowed } from "./allowed-hosts.js";
import { defineTask } from "./define-task.js";
import { PermanentError } from "./permanent-error.js";

const payload = z.object({
  url: z.url({ protocol: /^https?$/ }),
  method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]).default("GET"),
  headers: z.record(z.string(), z.string()).default({}),
  /** A string is sent as is; anything else as JSON. */
  body: z.unknown().optional(),
  /** Milliseconds for the whole request. */
  timeout: z.number().int().positive().max(3_600_000).default(30_000),
  /**
   * Opt-in: keep this many characters of an error response's body in the
   * error (so in logs, `last_error`, `job_runs` and dead letters). Off by
   * default: bodies echo tokens and personal data, and a 404 page is kilobytes.
   */
  errorBodyChars: z.number().int().min(0).max(2_000).default(0),
});

/** Statuses that say "try again later" even though they are 4xx. */
const RETRYABLE_4XX = new Set([408, 425, 429]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
/** Sent to the first origin only, as fetch does when it follows redirects itself. */
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];

/**
 * Calls an endpoint: 2xx succeeds; 5xx, 408/425/429 and network errors are
 * retried with backoff; any other 4xx is permanent (dead-lettered at once), and
 * so is a host (or a redirect to one) outside PGMILL_HTTP_ALLOWED_HOSTS.
 * Messages name the status, method and origin, never the path, query,
 * headers or (unless `errorBodyChars` asks) the response body: they reach the
 * logs and history, and any of those can carry a token.
 */
export const httpTask = defineTask({
  name: "http",
  payload,
  maxAttempts: 10,
  handler: async ({ url, method, headers, body, timeout, errorBodyChars }, { signal, logger, settings }) => {
    const init: RequestInit & { headers: Record<string, string> } = {
      method,
      headers: { ...headers },
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]),
      redirect: "manual",
    };
    if (body !== undefined && method !== "GET" && method !== "HEAD") {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      const hasType = Object.keys(headers).some((h) => h.toLowerCase() === "content-type");
      if (typeof body !== "string" && !hasType) init.headers["content-type"] = "application/json";
    }
    let target = new URL(url);
    for (let redirects = 0; ; redirects++) {
      if (!isHostAllowed(settings.httpAllowedHosts, target.hostname)) {
        throw new PermanentError(`${init.method} ${target.origin}: host ${target.hostname} is not in PGMILL_HTTP_ALLOWED_HOSTS`);
      }
      const response = await fetch(target, init).catch((error: Error) => {
        // undici says only "fetch failed"; the reason (ECONNREFUSED, a DNS failure) is its cause.
        const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
        throw new Error(`${init.method} ${target.origin} failed${cause}`, { cause: error });
      });
      const location = REDIRECTS.has(response.status) ? response.headers.get("location") : null;
      if (location === null) return checkStatus(response, `${init.method} ${target.origin}`, errorBodyChars, logger);
      await response.body?.cancel();
      const next = new URL(location, target);
      if (redirects === MAX_REDIRECTS) throw new Error(`${init.method} ${target.origin}: more than ${MAX_REDIRECTS} redirects`);
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        throw new PermanentError(`${init.method} ${target.origin} redirected to a ${next.protocol} URL`);
      }
      followRedirect(init, response.status, target, next);
      target = next;
    }
  },
});

/** What fetch's own redirect handling does: 303 (and 301/302 after POST) become GET; credentials stay with their origin. */
function followRedirect(init: RequestInit & { headers: Record<string, string> }, status: number, from: URL, to: URL): void {
  const seeOther = status === 303 && init.method !== "GET" && init.method !== "HEAD";
  const postMoved = (status === 301 || status === 302) && init.method === "POST";
  if (seeOther || postMoved) {
    init.method = "GET";
    delete init.body;
    for (const name of Object.keys(init.headers)) if (name.toLowerCase().startsWith("content-")) delete init.headers[name];
  }
  if (to.origin !== from.origin) {
    for (const name of Object.keys(init.headers)) if (CREDENTIAL_HEADERS.includes(name.toLowerCase())) delete init.headers[name];
  }
}

async function checkStatus(response: Response, request: string, errorBodyChars: number, logger: Logger): Promise<void> {
  logger.debug({ status: response.status }, "http response");
  // Read (or discarded) either way, so the connection goes back to the pool.
  const excerpt = response.ok || errorBodyChars === 0 ? "" : (await response.text().catch(() => "")).slice(0, errorBodyChars);
  if (response.ok || errorBodyChars === 0) await response.body?.cancel().catch(() => undefined);
  if (response.ok) return;
  const message = `${request} answered ${response.status}${excerpt ? `: ${excerpt}` : ""}`;
  if (response.status >= 400 && response.status < 500 && !RETRYABLE_4XX.has(response.status)) {
    throw new PermanentError(message);
  }
  throw new Error(message);
}
