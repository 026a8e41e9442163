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
  close(): Promise<void>;
}

export async function startJobEndpoint(): Promise<JobEndpoint> {
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests++;
    const workMs = Number(/^\/work\/(\d+)$/.exec(request.url ?? "")?.[1] ?? 0);
    setTimeout(() => response.end("done"), workMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (workMs) => `http://127.0.0.1:${port}/work/${workMs}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
