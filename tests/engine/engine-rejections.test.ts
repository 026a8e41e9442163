import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const FIXTURE = fileURLToPath(new URL("../support/engine-rejection-fixture.ts", import.meta.url));
const TSX = import.meta.resolve("tsx");

async function run(message: string, topFrame?: string): Promise<{ code: number; stdout: string }> {
  return promisify(execFile)(process.execPath, ["--import", TSX, FIXTURE, message, ...(topFrame ? [topFrame] : [])]).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
}

describe("unhandled rejections from the engine", () => {
  it("logs graphile-worker's failure to return a released local queue and keeps the daemon running", async () => {
    const { code, stdout } = await run("Error occurred whilst returning jobs from local queue to database queue: Connection terminated unexpectedly");
    expect(code).toBe(0);
    expect(stdout).toContain("pgmill releases those jobs itself");
    expect(stdout).toContain("still running");
  });

  it("logs graphile-worker's second release of its LISTEN client and keeps the daemon running", async () => {
    const doubleRelease = "Release called on client which has already been released to the pool.";
    const fromEngine = await run(doubleRelease, "release (/app/node_modules/graphile-worker/dist/main.js:347:20)");
    expect(fromEngine.code).toBe(0);
    expect(fromEngine.stdout).toContain("graphile-worker released its LISTEN client twice");
    expect(fromEngine.stdout).toContain("still running");
    // The same mistake anywhere else is a bug of ours: fatal.
    const fromElsewhere = await run(doubleRelease, "withPgClient (/app/node_modules/pgmill/dist/daemon/handler-resources.js:40:9)");
    expect(fromElsewhere.code).not.toBe(0);
    expect(fromElsewhere.stdout).not.toContain("still running");
  });

  it("leaves any other unhandled rejection fatal, as Node's default is", async () => {
    const { code, stdout } = await run("something else went wrong");
    expect(code).not.toBe(0);
    expect(stdout).not.toContain("still running");
  });
});
