import { describe, expect, it } from "vitest";
import { createDaemonEvents } from "../../src/daemon/daemon-events.js";
import { PgmillMetrics } from "../../src/metrics/metrics.js";

// The limits' series: the limits themselves once the daemon is assembled,
// this daemon's held slots from then on (zero before the first attempt).

describe("task limit metrics", () => {
  it("exposes each limited task's limits and this daemon's held slots, pre-initialised, and parks by reason", async () => {
    const events = createDaemonEvents();
    const metrics = new PgmillMetrics(events, { tasks: ["sync", "mail", "free"], concurrency: 8 });
    events.emit("tasks:limited", [
      { task: "sync", concurrency: 3, rate: { max: 10, perMs: 1000 } },
      { task: "mail", concurrency: null, rate: { max: 100, perMs: 60_000 } },
    ]);
    let text = await metrics.registry.metrics();
    expect(text).toContain('pgmill_task_concurrency_limit{task="sync"} 3');
    expect(text).toContain('pgmill_task_slots_held{task="sync"} 0');
    expect(text).toContain('pgmill_task_rate_limit{task="sync"} 10');
    expect(text).toContain('pgmill_task_rate_limit_window_seconds{task="sync"} 1');
    expect(text).toContain('pgmill_task_rate_limit{task="mail"} 100');
    expect(text).toContain('pgmill_task_rate_limit_window_seconds{task="mail"} 60');
    expect(text).not.toContain('pgmill_task_slots_held{task="mail"}');
    expect(text).not.toMatch(/pgmill_task_(concurrency|rate)_limit\{task="free"\}/);
    expect(text).toContain('pgmill_jobs_parked_total{task="sync",reason="concurrency"} 0');

    events.emit("task:slots", "sync", 2);
    events.emit("job:parked", "sync", "rate_limit");
    text = await metrics.registry.metrics();
    expect(text).toContain('pgmill_task_slots_held{task="sync"} 2');
    expect(text).toContain('pgmill_jobs_parked_total{task="sync",reason="rate_limit"} 1');
  });
});
