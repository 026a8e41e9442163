import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
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
const echoed: Echoed[] = [];
/** Called when a /hang request arrives, with a promise that settles when its connection closes. */
let onHang: ((hang: { closed: Promise<void> }) => void) | undefined;

const STATUS: Record<string, number> = { "/ok": 200, "/created": 201, "/boom": 500, "/missing": 404, "/slow-down": 429 };

beforeAll(async () => {
  server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
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
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  echoed.length = 0;
  onHang = undefined;
});

function context(signal: AbortSignal = new AbortController().signal): TaskContext {
  return {
    signal,
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
function run(payload: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
  return httpTask.handler(httpTask.payload.parse(payload), context(signal));
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

  it("rejects a 500 with a retryable Error naming the status", async () => {
    const error = await rejection(run({ url: `${base}/boom` }));
    expect(error).not.toBeInstanceOf(PermanentError);
    expect(error.message).toContain("500");
    expect(error.message).toContain("/boom");
    // The start of the body helps whoever reads the history.
    expect(error.message).toContain("status 500 for /boom");
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
    expect(error.message).toContain(`GET http://127.0.0.1:${port}/ok failed`);
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
    expect(error.message).toContain("/hang");
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

describe("httpTask payload", () => {
  it("fills defaults", () => {
    expect(httpTask.payload.parse({ url: "https://example.com/hook" })).toEqual({
      url: "https://example.com/hook",
      method: "GET",
      headers: {},
      timeout: 30_000,
    });
  });

  it("rejects non-http(s) urls and bad values", () => {
    for (const url of ["ftp://x", "file:///etc/passwd", "mailto:a@b.c", "not a url"]) {
      expect(httpTask.payload.safeParse({ url }).success, url).toBe(false);
    }
    expect(httpTask.payload.safeParse({ url: "http://x", method: "TRACE" }).success).toBe(false);
    expect(httpTask.payload.safeParse({ url: "http://x", timeout: 0 }).success).toBe(false);
    expect(httpTask.payload.safeParse({ url: "http://x", headers: { a: 1 } }).success).toBe(false);
  });

  it("retries up to 10 times by default", () => {
    expect(httpTask.name).toBe("http");
    expect(httpTask.maxAttempts).toBe(10);
  });
});
