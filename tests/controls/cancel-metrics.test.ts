import { describe, expect, it } from "vitest";
import { createDaemonEvents } from "../../src/daemon/daemon-events.js";
import { PgmillMetrics } from "../../src/metrics/metrics.js";

describe("pgmill_jobs_cancelled_total", () => {
  it("starts at zero for every task and state, counts job:cancelled, and keeps unknown task names out of its labels", async () => {
    const events = createDaemonEvents();
    const metrics = new PgmillMetrics(events, { tasks: ["report"], concurrency: 1 });
    const before = await metrics.render();
    expect(before).toContain('pgmill_jobs_cancelled_total{task="report",state="queued"} 0');
    expect(before).toContain('pgmill_jobs_cancelled_total{task="report",state="running"} 0');
    expect(before).toContain('pgmill_attempts_finished_total{task="report",outcome="cancelled"} 0');

    events.emit("job:cancelled", "report", "running");
    events.emit("job:cancelled", "report", "queued");
    events.emit("job:cancelled", "report", "queued");
    events.emit("job:cancelled", "some junk name", "queued");
    const after = await metrics.render();
    expect(after).toContain('pgmill_jobs_cancelled_total{task="report",state="running"} 1');
    expect(after).toContain('pgmill_jobs_cancelled_total{task="report",state="queued"} 2');
    expect(after).toContain('pgmill_jobs_cancelled_total{task="",state="queued"} 1');
    expect(after).not.toContain("some junk name");
  });
});
