import { describe, expect, inject, it } from "vitest";
import { violations } from "../../chaos/lib/scenario.js";
import { SCENARIOS } from "../../chaos/scenarios/index.js";

// The chaos suite's scenarios at their short size (`npm run chaos` runs them
// full and writes chaos/REPORT.md). One file, so they run one after another:
// each drives three daemon processes and must not starve the others of CPU.
describe("chaos (short)", () => {
  for (const [id, scenario] of Object.entries(SCENARIOS)) {
    it(`${id}: no job lost, only jobs in flight at a fault run twice, none completed while another daemon held it, none left locked, recovery within its bound`, async () => {
      const result = await scenario(inject("adminUrl"), "short");
      expect(violations(result)).toEqual([]);
      expect(result.jobs.enqueued).toBeGreaterThan(0);
      expect(result.jobs.completed + result.jobs.deadLettered).toBe(result.jobs.enqueued);
    }, 240_000);
  }
});
