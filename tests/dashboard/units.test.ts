import { describe, expect, it } from "vitest";
import { failureRateChart, throughputChart } from "../../src/dashboard/charts.js";
import { BadRequest, instant, parseQuery } from "../../src/dashboard/filters.js";
import { html, payloadBlock, query, short, time } from "../../src/dashboard/html.js";
import { sameSecret, Sessions } from "../../src/dashboard/sessions.js";
import { z } from "zod";

describe("sessions", () => {
  it("hands out distinct sessions, each with its own CSRF token, that expire after 12 hours", () => {
    let now = 1_000_000;
    const sessions = new Sessions(() => now);
    const a = sessions.create();
    const b = sessions.create();
    expect(a.id).not.toBe(b.id);
    expect(a.csrf).not.toBe(a.id);
    expect(sessions.get(a.id)).toBe(a);
    expect(sessions.get("made-up")).toBeNull();
    expect(sessions.get(undefined)).toBeNull();
    now += 12 * 3600_000;
    expect(sessions.get(a.id)).toBeNull();
  });

  it("ends a session on logout, and keeps at most 1000", () => {
    const sessions = new Sessions();
    const first = sessions.create();
    sessions.end(first.id);
    expect(sessions.get(first.id)).toBeNull();
    const oldest = sessions.create();
    for (let i = 0; i < 1000; i++) sessions.create();
    expect(sessions.get(oldest.id)).toBeNull();
  });

  it("compares secrets of any length", () => {
    expect(sameSecret("a-token", "a-token")).toBe(true);
    expect(sameSecret("a-token", "a-token-longer")).toBe(false);
    expect(sameSecret("", "a-token")).toBe(false);
  });
});

describe("filters", () => {
  it("reads a datetime-local value as UTC and keeps an explicit offset", () => {
    expect(instant.parse("2026-12-01T03:00").toISOString()).toBe("2026-12-01T03:00:00.000Z");
    expect(instant.parse("2026-12-01T03:00:00+02:00").toISOString()).toBe("2026-12-01T01:00:00.000Z");
    expect(instant.safeParse("yesterday").success).toBe(false);
    expect(instant.safeParse("2026-13-45T99:00").success).toBe(false);
  });

  it("treats empty parameters as absent and names each bad one", () => {
    const schema = z.object({ task: z.string().optional(), limit: z.coerce.number().int().optional() });
    expect(parseQuery(schema, { task: "", limit: "" })).toEqual({});
    expect(() => parseQuery(schema, { limit: "many" })).toThrow(BadRequest);
    try {
      parseQuery(schema, { limit: "many" });
    } catch (error) {
      expect((error as BadRequest).problems).toEqual(["limit: expected a number"]);
    }
  });
});

describe("html", () => {
  it("escapes every interpolated value", () => {
    expect(String(html`<td>${'<img src=x onerror="alert(1)">'}</td>`)).toBe("<td>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</td>");
    expect(String(short("x".repeat(200), 10))).toContain("xxxxxxxxx…");
    expect(query({ task: "a&b", state: undefined, queue: "" })).toBe("?task=a%26b");
    expect(String(time(new Date("2026-12-01T03:04:05.678Z")))).toContain(">2026-12-01 03:04:05</time>");
    expect(time(Infinity as unknown as Date)).toBe("infinity");
  });

  it("shows a payload whole, with keys only, or not at all", () => {
    const payload = { to: "a@example.com", n: [1, 2] };
    expect(String(payloadBlock("stored", payload))).toContain("a@example.com");
    const redacted = String(payloadBlock("redacted", payload));
    expect(redacted).not.toContain("a@example.com");
    expect(redacted).toContain("&quot;to&quot;: &quot;[redacted]&quot;");
    expect(String(payloadBlock("omitted", payload))).not.toContain("a@example.com");
  });

  it("cuts a huge payload at 64 KiB and shows one nested deeper than JSON.stringify recurses", () => {
    const huge = String(payloadBlock("stored", { blob: "y".repeat(200_000) }));
    expect(huge.length).toBeLessThan(70_000);
    expect(huge).toContain("characters, cut");
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(String(payloadBlock("stored", deep))).toContain("[[[[");
  });
});

describe("charts", () => {
  const buckets = [
    { start: new Date("2026-12-01T02:00:00Z"), succeeded: 8, failed: 2 },
    { start: new Date("2026-12-01T02:01:00Z"), succeeded: 0, failed: 0 },
    { start: new Date("2026-12-01T02:02:00Z"), succeeded: 5, failed: 0 },
  ];
  const label = (d: Date) => d.toISOString().slice(11, 16);

  it("draws a stacked bar per bucket, scaled to the busiest, with a tooltip each", () => {
    const svg = String(throughputChart(buckets, label));
    expect(svg.match(/<rect class="ok"/g)).toHaveLength(3);
    expect(svg).toContain("<title>02:00: 8 succeeded, 2 failed</title>");
    expect(svg).toMatch(/>10<\/text>/);
  });

  it("draws the failure rate only where there were attempts", () => {
    const svg = String(failureRateChart(buckets, label));
    expect(svg.match(/<circle/g)).toHaveLength(2);
    expect(svg).toContain("20.0% of 10 failed");
    expect(svg).toContain("0.0% of 5 failed");
  });
});
