import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The loopback endpoint chaos jobs call with the shipped `http` task: it
 * answers after the milliseconds in the path (`/work/150`), so each job is in
 * flight long enough for a fault to catch some mid-run.
 */
export interface JobEndpoint {
  url(workMs: number): string;
  /** Requests received so far: how many times jobs were executed. */
  requests(): number;
  /** The most requests it was answering at once: attempts running at the same moment, whoever ran them. */
  maxInFlight(): number;
  close(): Promise<void>;
}

export async function startJobEndpoint(): Promise<JobEndpoint> {
  let requests = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const server = http.createServer((request, response) => {
    requests++;
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    // Answered, or cut off by a killed daemon.
    response.once("close", () => inFlight--);
    const workMs = Number(/^\/work\/(\d+)$/.exec(request.url ?? "")?.[1] ?? 0);
    setTimeout(() => response.end("done"), workMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (workMs) => `http://127.0.0.1:${port}/work/${workMs}`,
    requests: () => requests,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
