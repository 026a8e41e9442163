import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/config.js";
import type { TaskContext } from "../src/tasks/define-task.js";
import { httpTask } from "../src/tasks/http.js";
import { PermanentError } from "../src/tasks/permanent-error.js";

interface Echoed {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let base: string;
/** The same endpoints on another port: another origin. */
let otherServer: Server;
let otherBase: string;
const echoed: Echoed[] = [];
/** Called when a /hang request arrives, with a promise that settles when its connection closes. */
let onHang: ((hang: { closed: Promise<void> }) => void) | undefined;

const STATUS: Record<string, number> = { "/ok": 200, "/created": 201, "/boom": 500, "/missing": 404, "/slow-down": 429 };

function endpoints(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    if (path === "/redirect") {
      // /redirect?status=302&to=URL
      res.writeHead(Number(url.searchParams.get("status") ?? 302), { location: url.searchParams.get("to") ?? "/" }).end();
      return;
    }
    if (path === "/hang") {
      const closed = new Promise<void>((resolve) => res.on("close", () => resolve()));
      onHang?.({ closed });
      return; // never answers
    }
    if (path === "/echo") {
      const record = { method: req.method ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      echoed.push(record);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(record));
      return;
    }
    const status = STATUS[path] ?? 404;
    res.writeHead(status, { "content-type": "text/plain" }).end(`status ${status} for ${path}`);
  });
}

async function listen(): Promise<[Server, string]> {
  const listening = createServer(endpoints);
  await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
  return [listening, `http://127.0.0.1:${(listening.address() as AddressInfo).port}`];
}

beforeAll(async () => {
  [server, base] = await listen();
  [otherServer, otherBase] = await listen();
});

afterAll(async () => {
  for (const listening of [server, otherServer]) {
    listening.closeAllConnections();
    await new Promise<void>((resolve) => listening.close(() => resolve()));
  }
});

beforeEach(() => {
  echoed.length = 0;
  onHang = undefined;
});

function context(signal: AbortSignal, allowedHosts?: string): TaskContext {
  return {
    signal,
    settings: { httpAllowedHosts: loadConfig(allowedHosts === undefined ? {} : { PGMILL_HTTP_ALLOWED_HOSTS: allowedHosts }, {}).httpAllowedHosts, concurrency: 1, shutdownTimeoutMs: 1_000 },
    withPgClient: () => Promise.reject(new Error("the http task uses no database")),
    addJob: () => Promise.reject(new Error("the http task enqueues nothing")),
    logger: pino({ level: "silent" }),
    job: {
      id: "1",
      task: "http",
      queue: null,
      key: null,
      attempt: 1,
      maxAttempts: 10,
      priority: 0,
      runAt: new Date(),
      createdAt: new Date(),
      cron: null,
    },
  };
}

/** Runs the task's handler the way the daemon does: payload through its schema first. */
function run(payload: Record<string, unknown>, signal = new AbortController().signal, allowedHosts?: string): Promise<void> {
  return httpTask.handler(httpTask.payload.parse(payload), context(signal, allowedHosts));
}

/** The error `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error("expected the handler to reject");
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe("httpTask handler", () => {
  it("resolves on 2xx", async () => {
    await expect(run({ url: `${base}/ok` })).resolves.toBeUndefined();
    await expect(run({ url: `${base}/created`, method: "POST", body: "x" })).resolves.toBeUndefined();
  });

  it("rejects a 500 with a retryable Error naming the status, method and origin, and not the body", async () => {
    const error = await rejection(run({ url: `${base}/boom?token=SECRET` }));
    expect(error).not.toBeInstanceOf(PermanentError);
    // The server's body echoes the path; the error keeps none of it.
    expect(error.message).toBe(`GET ${base} answered 500`);
  });

  it("keeps at most errorBodyChars of an error body when asked to", async () => {
    const error = await rejection(run({ url: `${base}/missing-page`, errorBodyChars: 14 }));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(`GET ${base} answered 404: status 404 for`);
  });

  it("rejects a 404 with a PermanentError", async () => {
    const error = await rejection(run({ url: `${base}/missing` }));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toContain("404");
  });

  it("treats 429 as retryable", async () => {
    const error = await rejection(run({ url: `${base}/slow-down` }));
    expect(error).not.toBeInstanceOf(PermanentError);
    expect(error.message).toContain("429");
  });

  it("says why a connection failed", async () => {
    const port = await closedPort();
    const error = await rejection(run({ url: `http://127.0.0.1:${port}/ok` }));
    expect(error).not.toBeInstanceOf(PermanentError);
    expect(error.message).toContain("ECONNREFUSED");
    expect(error.message).toContain(`GET http://127.0.0.1:${port} failed`);
  });

  it("sends an object body as JSON with the custom headers", async () => {
    await run({
      url: `${base}/echo?x=1`,
      method: "POST",
      headers: { "x-request-id": "abc-123", authorization: "Bearer t0k3n" },
      body: { hello: "wörld", n: [1, 2] },
    });
    expect(echoed).toHaveLength(1);
    const [request] = echoed;
    expect(request?.method).toBe("POST");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers["x-request-id"]).toBe("abc-123");
    expect(request?.headers.authorization).toBe("Bearer t0k3n");
    expect(JSON.parse(request!.body)).toEqual({ hello: "wörld", n: [1, 2] });
  });

  it("keeps a caller's content-type and sends a string body as is", async () => {
    await run({ url: `${base}/echo`, method: "PUT", headers: { "Content-Type": "application/vnd.x+json" }, body: { a: 1 } });
    await run({ url: `${base}/echo`, method: "PATCH", body: "raw text" });
    expect(echoed.map((r) => [r.method, r.headers["content-type"], r.body])).toEqual([
      ["PUT", "application/vnd.x+json", '{"a":1}'],
      ["PATCH", expect.not.stringContaining("application/json"), "raw text"],
    ]);
  });

  it("sends no body with GET", async () => {
    await run({ url: `${base}/echo`, body: { ignored: true } });
    expect(echoed.map((r) => [r.method, r.body])).toEqual([["GET", ""]]);
  });

  it("gives up after its timeout", async () => {
    const started = Date.now();
    const error = await rejection(run({ url: `${base}/hang`, timeout: 200 }));
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(5000);
    expect(error.message).toContain(`GET ${base} failed`);
    expect((error.cause as Error | undefined)?.name).toBe("TimeoutError");
  });

  it("aborts the request when the context signal aborts", async () => {
    const controller = new AbortController();
    // Wrapped in an object: resolving with a bare promise would wait for it.
    const arrived = new Promise<{ closed: Promise<void> }>((resolve) => (onHang = resolve));
    const started = Date.now();
    const pending = rejection(run({ url: `${base}/hang`, timeout: 60_000 }, controller.signal));
    const { closed } = await arrived; // the request is in flight
    controller.abort();
    const error = await pending;
    expect(Date.now() - started).toBeLessThan(5000);
    expect((error.cause as Error | undefined)?.name).toBe("AbortError");
    // The server sees the connection go away: the request really was cancelled.
    await closed;
  });
});

describe("httpTask redirects", () => {
  const redirect = (to: string, status = 302) => `${base}/redirect?status=${status}&to=${encodeURIComponent(to)}`;

  it("follows them, keeping credentials on the same origin and dropping them on another", async () => {
    const headers = { authorization: "Bearer t0k3n", cookie: "s=1", "x-request-id": "r1" };
    await run({ url: redirect(`${base}/echo`), headers });
    await run({ url: redirect(`${otherBase}/echo`, 307), headers });
    expect(echoed.map((r) => [r.headers.host, r.headers.authorization, r.headers.cookie, r.headers["x-request-id"]])).toEqual([
      [new URL(base).host, "Bearer t0k3n", "s=1", "r1"],
      [new URL(otherBase).host, undefined, undefined, "r1"],
    ]);
  });

  it("turn a POST into a GET without its body on 303, and keep it on 307", async () => {
    await run({ url: redirect(`${base}/echo`, 303), method: "POST", body: { a: 1 } });
    await run({ url: redirect(`${base}/echo`, 307), method: "POST", body: { a: 1 } });
    expect(echoed.map((r) => [r.method, r.headers["content-type"], r.body])).toEqual([
      ["GET", undefined, ""],
      ["POST", "application/json", '{"a":1}'],
    ]);
  });

  it("give up after 10 hops, and refuse a redirect to another scheme", async () => {
    let url = `${base}/echo`;
    for (let hop = 0; hop < 11; hop++) url = redirect(url);
    expect((await rejection(run({ url }))).message).toBe(`GET ${base}: more than 10 redirects`);
    expect(echoed).toEqual([]);
    const error = await rejection(run({ url: redirect("file:///etc/passwd") }));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(`GET ${base} redirected to a file: URL`);
  });
});

describe("httpTask with PGMILL_HTTP_ALLOWED_HOSTS", () => {
  it("calls an allowed host", async () => {
    await run({ url: `${base}/echo` }, undefined, "api.example.com, 127.0.0.1");
    expect(echoed).toHaveLength(1);
  });

  it("fails permanently, naming the host, without sending anything to a host not allowed", async () => {
    const error = await rejection(run({ url: `${base}/echo?token=s3cr3t` }, undefined, "api.example.com,*.example.org"));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(`GET ${base}: host 127.0.0.1 is not in PGMILL_HTTP_ALLOWED_HOSTS`);
    expect(echoed).toEqual([]);
  });

  it("checks every redirect hop: a redirect cannot leave the allowed hosts", async () => {
    const escape = `${base}/redirect?to=${encodeURIComponent(`http://localhost:${new URL(base).port}/echo`)}`;
    const error = await rejection(run({ url: escape }, undefined, "127.0.0.1"));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(`GET http://localhost:${new URL(base).port}: host localhost is not in PGMILL_HTTP_ALLOWED_HOSTS`);
    expect(echoed).toEqual([]);
  });
});

describe("httpTask payload", () => {
  it("fills defaults", () => {
    expect(httpTask.payload.parse({ url: "https://example.com/hook" })).toEqual({
      url: "https://example.com/hook",
      method: "GET",
      headers: {},
      timeout: 30_000,
      errorBodyChars: 0,
    });
  });

  it("rejects non-http(s) urls and bad values", () => {
    for (const url of ["ftp://x", "file:///etc/passwd", "mailto:a@b.c", "not a url"]) {
      expect(httpTask.payload.safeParse({ url }).success, url).toBe(false);
    }
    expect(httpTask.payload.safeParse({ url: "http://x", method: "TRACE" }).success).toBe(false);
    expect(httpTask.payload.safeParse({ url: "http://x", timeout: 0 }).success).toBe(false);
    expect(httpTask.payload.safeParse({ url: "http://x", errorBodyChars: 2_001 }).success).toBe(false);
    expect(httpTask.payload.safeParse({ url: "http://x", headers: { a: 1 } }).success).toBe(false);
  });

  it("retries up to 10 times by default", () => {
    expect(httpTask.name).toBe("http");
    expect(httpTask.maxAttempts).toBe(10);
  });
});
