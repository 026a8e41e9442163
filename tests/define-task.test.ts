import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../src/tasks/define-task.js";

const definition = { name: "t", payload: z.object({}), handler: async () => {} };

describe("defineTask", () => {
  it("takes maxAttempts from 1 to 32767 (graphile-worker keeps attempts in a smallint)", () => {
    expect(defineTask({ ...definition, maxAttempts: 1 }).maxAttempts).toBe(1);
    expect(defineTask({ ...definition, maxAttempts: 32_767 }).maxAttempts).toBe(32_767);
    for (const maxAttempts of [0, -1, 1.5, 32_768, Number.POSITIVE_INFINITY]) {
      expect(() => defineTask({ ...definition, maxAttempts }), String(maxAttempts)).toThrow(
        "task t: maxAttempts must be a whole number from 1 to 32767",
      );
    }
  });

  it("takes a positive timeout", () => {
    expect(() => defineTask({ ...definition, timeout: 0 })).toThrow("task t: timeout must be a positive number of milliseconds");
  });
});
