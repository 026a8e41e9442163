import { EventEmitter } from "node:events";
import type { WorkerEvents } from "graphile-worker";
import { describe, expect, it } from "vitest";
import { onEngineOutcomes, type EngineOperation } from "../../src/engine/engine-failures.js";

// What counts as the engine's database work succeeding, for readiness. The
// events are graphile-worker's own names, emitted by hand here.

function watch(): { events: EventEmitter; seen: string[] } {
  const events = new EventEmitter();
  const seen: string[] = [];
  onEngineOutcomes(events as unknown as WorkerEvents, {
    failed: (operation: EngineOperation, message: string) => seen.push(`${operation} failed: ${message}`),
    succeeded: (operation: EngineOperation) => seen.push(`${operation} ok`),
  });
  return { events, seen };
}

describe("onEngineOutcomes", () => {
  it("counts a local-queue fetch that returned as a success, and a worker finding the local queue empty as nothing", () => {
    const { events, seen } = watch();
    // While the database is unreachable the local queue is empty, and workers say so without asking the database.
    events.emit("worker:getJob:empty", {});
    events.emit("localQueue:getJobs:complete", { jobs: [] });
    expect(seen).toEqual(["fetch ok"]);
  });

  it("reports a worker's failed fetch and a pool's fatal error (a completion batch it could not write)", () => {
    const { events, seen } = watch();
    events.emit("worker:getJob:error", { error: new Error("connection refused") });
    events.emit("pool:fatalError", { error: new Error("Connection terminated") });
    expect(seen).toEqual(["fetch failed: connection refused", "complete failed: Connection terminated"]);
  });
});
