import { describe, expect, it } from "vitest";
import { createDaemonEvents } from "../src/daemon/daemon-events.js";
import { PgmillMetrics } from "../src/metrics/metrics.js";

const series = (text: string, identifier: string) =>
  new RegExp(`^pgmill_cron_last_enqueue_timestamp_seconds\\{identifier="${identifier}"\\} (\\S+)$`, "m").exec(text)?.[1];

describe("pgmill_cron_last_enqueue_timestamp_seconds", () => {
  it("starts at load time, follows enqueues, and disappears with its crontab line", async () => {
    const events = createDaemonEvents();
    const metrics = new PgmillMetrics(events, { tasks: [], concurrency: 1 });
    const loadedAt = Date.now() / 1000;
    events.emit("cron:loaded", ["morning", "hourly"]);
    let text = await metrics.render();
    expect(Number(series(text, "morning"))).toBeGreaterThanOrEqual(Math.floor(loadedAt));

    events.emit("cron:enqueued", ["hourly"], new Date("2030-01-01T10:00:00Z"));
    text = await metrics.render();
    expect(Number(series(text, "hourly"))).toBe(Date.parse("2030-01-01T10:00:00Z") / 1000);

    // A reload keeps a known line's value and drops a removed one.
    events.emit("cron:loaded", ["hourly"]);
    text = await metrics.render();
    expect(series(text, "morning")).toBeUndefined();
    expect(Number(series(text, "hourly"))).toBe(Date.parse("2030-01-01T10:00:00Z") / 1000);
  });
});
