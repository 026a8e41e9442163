import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { PgmillError } from "../errors.js";
import { dashboardApp, type DashboardOptions } from "./app.js";

export interface DashboardServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the dashboard on node's http at host:port (port 0: any free one). */
export async function startDashboardServer(options: DashboardOptions & { port: number }): Promise<DashboardServer> {
  const app = dashboardApp(options);
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => reject(listenError(error, options.port)));
    server.listen(options.port, options.host, () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${host === "0.0.0.0" || host === "[::]" ? "localhost" : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

function listenError(error: NodeJS.ErrnoException, port: number): Error {
  if (error.code === "EADDRINUSE") return new PgmillError("PGMILL_PORT_IN_USE", `port ${port} is in use: set PGMILL_DASHBOARD_PORT (--port) to a free port`);
  if (error.code === "EACCES") return new PgmillError("PGMILL_INVALID_CONFIG", `port ${port} is not allowed for this user: set PGMILL_DASHBOARD_PORT (--port) above 1023`);
  if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND") {
    return new PgmillError("PGMILL_INVALID_CONFIG", `cannot listen on PGMILL_DASHBOARD_HOST: ${error.message}`);
  }
  return error;
}
