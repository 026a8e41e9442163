import { describe, expect, it } from "vitest";
import { z } from "zod";
import { slotRetryMs, SLOT_RETRY_MAX_MS } from "../../src/controls/task-limits-check.js";
import { defineTask, type AnyTask } from "../../src/tasks/define-task.js";
import { parseTaskLimits, taskLimitsOf } from "../../src/tasks/task-limits.js";

// defineTask's `concurrency` and `rateLimit`: parsed once, bad values refused
// with the field named.

const base = { name: "limited", payload: z.object({}), handler: async () => {} };

describe("task limit options", () => {
  it("parses concurrency and rateLimit (windows in ms, s, m, h)", () => {
    expect(parseTaskLimits({ concurrency: 3 })).toEqual({ limits: { concurrency: 3, rate: null } });
    expect(parseTaskLimits({ rateLimit: { max: 10, per: "1s" } })).toEqual({ limits: { concurrency: null, rate: { max: 10, perMs: 1000 } } });
    expect(parseTaskLimits({ rateLimit: { max: 1, per: "1m30s" } })).toMatchObject({ limits: { rate: { perMs: 90_000 } } });
    expect(parseTaskLimits({ rateLimit: { max: 1, per: 250 } })).toMatchObject({ limits: { rate: { perMs: 250 } } });
    expect(parseTaskLimits({})).toEqual({ limits: null });
    const task = defineTask({ ...base, concurrency: 2, rateLimit: { max: 5, per: "2s" } });
    expect(taskLimitsOf(task)).toEqual({ concurrency: 2, rate: { max: 5, perMs: 2000 } });
    expect(taskLimitsOf(defineTask(base))).toBeNull();
  });

  it.each([
    [{ concurrency: 0 }, "concurrency: must be at least 1"],
    [{ concurrency: 2.5 }, "concurrency: expected a whole number of attempts"],
    [{ concurrency: "3" }, "concurrency: expected a number"],
    [{ rateLimit: { max: 0, per: "1s" } }, "rateLimit.max: must be at least 1"],
    [{ rateLimit: { max: 5, per: "soon" } }, "rateLimit.per: expected a duration such as 1s, 500ms, 1m or 1h"],
    [{ rateLimit: { max: 5, per: "10ms" } }, "rateLimit.per: must be from 100ms to 1d"],
    [{ rateLimit: { max: 5 } }, "rateLimit.per: expected a duration such as 1s, 500ms, 1m or 1h"],
    [{ rateLimit: { max: 5, per: "1s", burst: 2 } }, 'rateLimit: Unrecognized key: "burst"'],
    [{ rateLimit: 5 }, 'rateLimit: expected { max: 10, per: "1s" }'],
  ])("refuses %j, naming the field", (limits, message) => {
    expect(() => defineTask({ ...base, ...(limits as object) } as AnyTask)).toThrow(`task limited: ${message}`);
  });

  it("waits longer the more jobs queue for a slot, within a cap", () => {
    for (let i = 0; i < 20; i++) {
      expect(slotRetryMs(1, 3)).toBeGreaterThanOrEqual(200);
      expect(slotRetryMs(1, 3)).toBeLessThanOrEqual(300);
      expect(slotRetryMs(30, 3)).toBeGreaterThanOrEqual(2000);
      expect(slotRetryMs(100_000, 3)).toBeLessThanOrEqual(SLOT_RETRY_MAX_MS * 1.2);
    }
  });
});
