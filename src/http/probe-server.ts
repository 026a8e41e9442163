import http from "node:http";
import type { AddressInfo } from "node:net";
import { PgmillError } from "../errors.js";
import type { Health, HealthReport } from "../health/health.js";
import type { Logger } from "../logging/logger.js";
import type { PgmillMetrics } from "../metrics/metrics.js";

export interface ProbeServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Kubernetes probes and the Prometheus scrape on one small HTTP server:
 * `/livez`, `/readyz` (200 or 503 with a JSON body naming every check) and
 * `/metrics`. It starts before the daemon, so readiness is 503 during start-up.
 */
export async function startProbeServer(options: {
  port: number;
  health: Health;
  metrics: PgmillMetrics;
  logger: Logger;
}): Promise<ProbeServer> {
  const { health, metrics, logger } = options;
  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET" && request.method !== "HEAD") return send(response, 405, "text/plain", "method not allowed\n");
    if (path === "/livez") return sendReport(response, health.liveness());
    if (path === "/readyz") return sendReport(response, health.readiness());
    if (path === "/metrics") {
      metrics.render().then(
        (body) => send(response, 200, metrics.contentType(), body),
        (error: unknown) => {
          logger.error({ err: error }, "rendering metrics failed");
          send(response, 500, "text/plain", "metrics unavailable\n");
        },
      );
      return;
    }
    send(response, 404, "text/plain", "not found: try /livez, /readyz or /metrics\n");
  });
  // Probes must not hold the process open or linger through shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => reject(listenError(error, options.port)));
    server.listen(options.port, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port }, "probe and metrics server listening (/livez, /readyz, /metrics)");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port in use or not allowed is a setting to change: one line naming it, not a stack trace. */
function listenError(error: NodeJS.ErrnoException, port: number): Error {
  if (error.code === "EADDRINUSE") {
    return new PgmillError(
      "PGMILL_PORT_IN_USE",
      `port ${port} is in use (another pgmill daemon?): stop it, or set PGMILL_HTTP_PORT (--http-port) to a free port`,
    );
  }
  if (error.code === "EACCES") {
    return new PgmillError("PGMILL_INVALID_CONFIG", `port ${port} is not allowed for this user: set PGMILL_HTTP_PORT (--http-port) above 1023`);
  }
  return error;
}

function sendReport(response: http.ServerResponse, report: HealthReport): void {
  send(response, report.status === "ok" ? 200 : 503, "application/json", `${JSON.stringify(report)}\n`);
}

function send(response: http.ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  response.end(body);
}
