import { randomBytes } from "node:crypto";
import { openDatabase, type Db } from "../../src/db/database.js";
import { createDatabase, dropDatabase } from "../../tests/support/database-admin.js";
import { databaseUrl } from "../../tests/support/database-url.js";
import type { JobFigures } from "./job-audit.js";

/** `full` for `npm run chaos` and the report; `short` for CI (tests/chaos). */
export type Size = "full" | "short";

export interface Recovery {
  readonly what: string;
  /** null: it never recovered within the wait. */
  readonly ms: number | null;
  readonly boundMs: number;
}

/** A scenario-specific expectation (exit codes, readiness flips, ticks once). */
export interface Check {
  readonly what: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly size: Size;
  readonly durationMs: number;
  /** What the scenario did, in a line: daemons, load, fault timing. */
  readonly setup: string;
  readonly jobs: JobFigures;
  readonly recoveries: readonly Recovery[];
  readonly checks: readonly Check[];
}

export type Scenario = (adminUrl: string, size: Size) => Promise<ScenarioResult>;

/** Every broken invariant of a result, in words; empty when it passed. */
export function violations(result: ScenarioResult): string[] {
  const { jobs } = result;
  const found: string[] = [];
  if (jobs.enqueued === 0) found.push("no job was enqueued");
  if (jobs.lost > 0) found.push(`${jobs.lost} jobs lost (${jobs.lostIds.join(", ")})`);
  if (jobs.unexplainedDuplicates.length) {
    found.push(`jobs run more than once without being in flight at a fault: ${jobs.unexplainedDuplicates.slice(0, 10).join(", ")}`);
  }
  if (jobs.completedWhileHeldElsewhere.length) {
    found.push(`jobs completed while another daemon held them: ${jobs.completedWhileHeldElsewhere.slice(0, 10).join(", ")}`);
  }
  if (jobs.lockedLeft > 0) found.push(`${jobs.lockedLeft} jobs left locked`);
  for (const r of result.recoveries) {
    if (r.ms === null || r.ms > r.boundMs) found.push(`${r.what}: ${r.ms === null ? "never" : `${r.ms} ms`} (bound ${r.boundMs} ms)`);
  }
  for (const c of result.checks) if (!c.ok) found.push(`${c.what}: ${c.detail}`);
  return found;
}

/** Undo steps run newest first, whether the scenario passed or threw. */
export class Teardown {
  private readonly steps: (() => Promise<unknown>)[] = [];

  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      await step().catch((error: unknown) => process.stderr.write(`chaos clean-up: ${String(error)}\n`));
    }
  }
}

export interface ScenarioDatabase {
  readonly url: string;
  /** The harness's own connections (application_name pgmill-chaos, never terminated by a scenario). */
  readonly db: Db;
}

/** A fresh, empty database on `adminUrl`'s server (the daemons migrate it), dropped at teardown. */
export async function scenarioDatabase(
  adminUrl: string,
  id: string,
  teardown: Teardown,
  options: { owner?: string; urlFor?: (url: string) => string } = {},
): Promise<ScenarioDatabase> {
  const name = `pgmill_chaos_${id.replace(/-/g, "_")}_${randomBytes(3).toString("hex")}`;
  await createDatabase(adminUrl, name, options.owner ? { owner: options.owner } : {});
  teardown.add(() => dropDatabase(adminUrl, name));
  const url = databaseUrl(adminUrl, name);
  const handle = openDatabase(url, { maxConnections: 4, applicationName: "pgmill-chaos" });
  teardown.add(() => handle.close());
  return { url: options.urlFor?.(url) ?? url, db: handle.db };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds since `start`, rounded. */
export const since = (start: number) => Math.round(Date.now() - start);
