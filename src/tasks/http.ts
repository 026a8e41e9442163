import { z } from "zod";
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
});

/** Statuses that say "try again later" even though they are 4xx. */
const RETRYABLE_4XX = new Set([408, 425, 429]);

/**
 * Calls an endpoint: 2xx succeeds; 5xx, 408/425/429 and network errors are
 * retried with backoff; any other 4xx is permanent (dead-lettered at once).
 */
export const httpTask = defineTask({
  name: "http",
  payload,
  maxAttempts: 10,
  handler: async ({ url, method, headers, body, timeout }, { signal, logger }) => {
    const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]) };
    if (body !== undefined && method !== "GET" && method !== "HEAD") {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      const hasType = Object.keys(headers).some((h) => h.toLowerCase() === "content-type");
      if (typeof body !== "string" && !hasType) (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const response = await fetch(url, init).catch((error: Error) => {
      // undici says only "fetch failed"; the reason (ECONNREFUSED, a DNS failure) is its cause.
      const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
      throw new Error(`${method} ${new URL(url).origin}${new URL(url).pathname} failed${cause}`, { cause: error });
    });
    const excerpt = (await response.text().catch(() => "")).slice(0, 500);
    logger.debug({ status: response.status }, "http response");
    if (response.ok) return;
    const message = `${method} ${new URL(url).origin}${new URL(url).pathname} answered ${response.status}${excerpt ? `: ${excerpt}` : ""}`;
    if (response.status >= 400 && response.status < 500 && !RETRYABLE_4XX.has(response.status)) {
      throw new PermanentError(message);
    }
    throw new Error(message);
  },
});
