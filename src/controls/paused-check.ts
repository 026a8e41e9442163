import type { PausedTasks } from "./paused-tasks.js";
import { ADMIT, type GateCheck } from "./task-gate.js";

/** Parks a job of a paused task until the task is resumed (held at run_at = infinity, attempt not spent). */
export function pausedCheck(paused: Pick<PausedTasks, "has">): GateCheck {
  return {
    name: "paused",
    check: (job) => (paused.has(job.task) ? { admit: false, reason: "paused", until: null } : ADMIT),
  };
}
