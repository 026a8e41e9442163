import { describe, expect, it } from "vitest";
import { createDaemonEvents } from "../src/daemon/daemon-events.js";
import { Health } from "../src/health/health.js";

function setup() {
  let now = 1_000_000;
  const events = createDaemonEvents();
  const health = new Health(events, { heartbeatIntervalMs: 5_000, now: () => now });
  return { events, health, advance: (ms: number) => (now += ms) };
}

describe("health", () => {
  it("does not call a slow start-up a stuck heartbeat loop", () => {
    const { events, health, advance } = setup();
    events.emit("state", "starting");
    advance(60_000); // migrations on a big database
    expect(health.liveness().checks.heartbeat_loop!.ok).toBe(true);
    events.emit("heartbeat"); // the loop starts
    events.emit("state", "running");
    expect(health.liveness().status).toBe("ok");
    health.close();
  });

  it("fails liveness when the loop stops ticking, never because of the database", () => {
    const { events, health, advance } = setup();
    events.emit("state", "running");
    events.emit("heartbeat");
    events.emit("database", false, "connection refused");
    advance(10_000);
    expect(health.liveness().status).toBe("ok");
    advance(6_000); // past three 5 s beats without a tick
    const report = health.liveness();
    expect(report.status).toBe("failing");
    expect(report.checks.heartbeat_loop!.detail).toMatch(/last tick 16000ms ago/);
    health.close();
  });

  it("is ready only when running, the database answered recently, migrations are current and the pool runs", () => {
    const { events, health, advance } = setup();
    expect(health.readiness().status).toBe("failing");
    events.emit("migrations", true);
    events.emit("pool:running", true);
    events.emit("database", true, null);
    events.emit("state", "running");
    expect(health.readiness().status).toBe("ok");
    advance(16_000); // no answer for three beats
    expect(health.readiness().checks.database!.ok).toBe(false);
    events.emit("database", true, null);
    events.emit("state", "draining");
    expect(health.readiness().checks).toMatchObject({ database: { ok: true }, daemon: { ok: false, detail: "draining" } });
    health.close();
  });

  it("turns unready when the engine's fetches or completions keep failing while the database answers the heartbeat", () => {
    const { events, health, advance } = setup();
    const ready = () => {
      events.emit("database", true, null);
      return health.readiness();
    };
    events.emit("migrations", true);
    events.emit("pool:running", true);
    events.emit("state", "running");
    // One failed completion batch (a restart, say) is a blip, not "failing".
    events.emit("engine:failure", "complete", "Connection terminated unexpectedly");
    advance(4_000);
    expect(ready().status).toBe("ok");
    // Failures that keep coming for 10 s are.
    advance(6_000);
    events.emit("engine:failure", "complete", 'prepared statement "complete_jobs/graphile_worker" already exists');
    expect(ready().checks.engine).toEqual({
      ok: false,
      detail: 'completing jobs has failed for 10s (last: prepared statement "complete_jobs/graphile_worker" already exists)',
    });
    // With no success event for completions, the streak ends a minute after its last failure.
    advance(61_000);
    expect(ready().status).toBe("ok");

    for (let i = 0; i < 6; i++) {
      events.emit("engine:failure", "fetch", "Error occurred fetching jobs; will try again on next poll interval. Error: connect ECONNREFUSED");
      advance(2_000);
    }
    expect(ready().checks.engine!.detail).toMatch(/^fetching jobs has failed for 12s \(last: Error occurred fetching jobs/);
    events.emit("engine:success", "fetch");
    expect(ready().status).toBe("ok");
    health.close();
  });
});
