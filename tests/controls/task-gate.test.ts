import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ADMIT, TaskGate, type GateCheck } from "../../src/controls/task-gate.js";
import type { ClaimedJob } from "../../src/engine/task-list.js";
import { defineTask } from "../../src/tasks/define-task.js";

const task = defineTask({ name: "t", payload: z.object({}), handler: async () => undefined });
const job = { id: "1", task: "t" } as ClaimedJob;

/** A check that records what it is asked and answers as told. */
function check(name: string, verdict: "admit" | "park", log: string[]): GateCheck {
  return {
    name,
    check: async () => {
      log.push(`${name}:check`);
      return verdict === "admit" ? ADMIT : { admit: false, reason: "concurrency", until: new Date(0) };
    },
    release: () => void log.push(`${name}:release`),
  };
}

describe("TaskGate", () => {
  it("admits when every check admits, and releases every check when the attempt is over", async () => {
    const log: string[] = [];
    const gate = new TaskGate([check("a", "admit", log), check("b", "admit", log)]);
    expect(await gate.admit(job, task)).toEqual({ admit: true });
    await gate.finished(job, task);
    expect(log).toEqual(["a:check", "b:check", "a:release", "b:release"]);
  });

  it("parks at the first check that says so, asks no later one, and has the earlier ones give back what they took", async () => {
    const log: string[] = [];
    const gate = new TaskGate([check("a", "admit", log), check("b", "park", log), check("c", "admit", log)]);
    expect(await gate.admit(job, task)).toEqual({ admit: false, reason: "concurrency", until: new Date(0) });
    expect(log).toEqual(["a:check", "b:check", "a:release"]);
  });

  it("admits everything with no checks", async () => {
    expect(await new TaskGate().admit(job, task)).toEqual({ admit: true });
  });
});
