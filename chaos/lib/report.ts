import { violations, type ScenarioResult } from "./scenario.js";

export interface Environment {
  readonly date: string;
  readonly machine: string;
  readonly node: string;
  readonly postgres: string;
  readonly pgmill: string;
}

const seconds = (ms: number | null) => (ms === null ? "never" : `${(ms / 1000).toFixed(1)} s`);

/** chaos/REPORT.md: a summary line per scenario, then each one's figures, recoveries and checks. */
export function renderReport(results: readonly ScenarioResult[], failures: readonly { id: string; error: string }[], env: Environment): string {
  const lines = [
    "# pgmill reliability report",
    "",
    "Written by `npm run chaos` (chaos/run.ts) from its last full run; do not edit by hand.",
    "Real `pgmill run` processes against real Postgres, all traffic on loopback. Jobs are the",
    "shipped `http` task calling a loopback endpoint that answers after a few hundred ms (after seconds",
    "where a scenario needs jobs in flight across a fault).",
    "",
    `- Date: ${env.date}`,
    `- Machine: ${env.machine}`,
    `- Node: ${env.node}`,
    `- Postgres: ${env.postgres}`,
    `- pgmill: ${env.pgmill}`,
    "",
    "**Lost** = enqueued, yet neither completed nor dead-lettered (must be 0). **Run more than once** =",
    "jobs with more than one attempt in `pgmill.job_runs`; only jobs in flight at a fault (locked",
    "when it struck, or with an attempt overlapping it) may be. **Stale** = `stale` rows: attempts that",
    "finished after their daemon was reaped, outcome not applied (not counted as runs). **Held elsewhere** =",
    "jobs completed while another daemon held them: two `succeeded` attempts at once, or one by a daemon reaped before",
    "the attempt finished (must be 0). **Left locked** = jobs still locked in `graphile_worker.jobs` at the end.",
    "",
    "| Scenario | Result | Enqueued | Completed | Lost | Run more than once (in flight at a fault) | Stale | Held elsewhere | Left locked | Recovery (bound) | Took |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ...results.map((r) => {
      const { jobs } = r;
      const recovery = r.recoveries.map((x) => `${seconds(x.ms)} (≤ ${seconds(x.boundMs)})`).join(", ") || "–";
      const verdict = violations(r).length ? "**FAIL**" : "pass";
      return `| ${r.title} | ${verdict} | ${jobs.enqueued} | ${jobs.completed} | ${jobs.lost} | ${jobs.runMoreThanOnce} (${jobs.inFlightAtFault}) | ${jobs.staleRows} | ${jobs.completedWhileHeldElsewhere.length} | ${jobs.lockedLeft} | ${recovery} | ${seconds(r.durationMs)} |`;
    }),
    ...failures.map((f) => `| ${f.id} | **FAIL** (did not finish) | | | | | | | | | |`),
    "",
  ];
  for (const r of results) lines.push(...scenarioSection(r));
  for (const f of failures) lines.push(`## ${f.id}: did not finish`, "", "```", f.error, "```", "");
  return lines.join("\n");
}

function scenarioSection(r: ScenarioResult): string[] {
  const { jobs } = r;
  const broken = violations(r);
  return [
    `## ${r.title}`,
    "",
    r.setup + ".",
    "",
    "| Enqueued | Completed | Dead-lettered | Lost | Run more than once | …in flight at a fault | …succeeded twice | Stale rows | Completed while held elsewhere | Left locked |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    `| ${jobs.enqueued} | ${jobs.completed} | ${jobs.deadLettered} | ${jobs.lost} | ${jobs.runMoreThanOnce} | ${jobs.inFlightAtFault} | ${jobs.succeededMoreThanOnce} | ${jobs.staleRows} | ${jobs.completedWhileHeldElsewhere.length} | ${jobs.lockedLeft} |`,
    "",
    ...(r.recoveries.length
      ? ["| Recovery | Measured | Bound |", "|---|---:|---:|", ...r.recoveries.map((x) => `| ${x.what} | ${seconds(x.ms)} | ${seconds(x.boundMs)} |`), ""]
      : []),
    ...r.checks.map((c) => `- ${c.ok ? "✔" : "✘"} ${c.what}: ${c.detail}`),
    ...(jobs.leftInQueue.count ? [`- still queued at the end: ${jobs.leftInQueue.count} (${jobs.leftInQueue.lastErrors.join("; ")})`] : []),
    "",
    broken.length ? `**Failed:** ${broken.join("; ")}` : "**Passed.**",
    "",
  ];
}
