import type { Command } from "commander";
import { z } from "zod";
import { cancelJob, lastRunOf, type CancelResult } from "../../controls/cancel-queries.js";
import type { Db } from "../../db/database.js";
import { checkAll } from "../../errors.js";
import { bigintId, parseArguments } from "../arguments.js";
import { commandConfig, withDatabase } from "../with-database.js";

/** Exit 0 when the job is or will be cancelled; 1 when there was nothing to cancel (said on stderr). */
const CANCELS: ReadonlySet<CancelResult> = new Set(["cancelled", "cancelling"]);

export function registerCancel(program: Command): void {
  program
    .command("cancel")
    .description("cancel a job: a queued one is removed, a running one's signal aborts (pgmill.cancel_job)")
    .argument("<job-id>", "the job's id (pgmill status, pgmill history, add_job's result)")
    .option("--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)")
    .option("--json", "print JSON")
    .action(async (jobId: string, options: { json?: boolean; databaseUrl?: string }) => {
      const [{ id }, config] = checkAll([
        () => parseArguments(z.object({ id: bigintId }), { id: jobId }, { id: "<job-id>" }),
        () => commandConfig(options),
      ]);
      await withDatabase(config, async ({ database }) => {
        const result = await cancelJob(database.db, id);
        const message = await explain(database.db, id, result);
        if (options.json) process.stdout.write(`${JSON.stringify({ job_id: id, result, message }, null, 2)}\n`);
        else if (CANCELS.has(result)) process.stdout.write(`${message}\n`);
        else process.stderr.write(`pgmill: ${message}\n`);
        if (!CANCELS.has(result)) process.exitCode = 1;
      });
    });
}

async function explain(db: Db, id: string, result: CancelResult): Promise<string> {
  switch (result) {
    case "cancelled":
      return `job ${id} was queued: removed, and recorded cancelled in its history (pgmill history --job ${id})`;
    case "cancelling":
      return (
        `job ${id} is running: the daemon running it aborts its handler's signal within a second; ` +
        `the attempt is recorded cancelled once the handler returns, and not retried (pgmill history --job ${id})`
      );
    case "dead_letter":
      return `job ${id} has used all its attempts: it is a dead letter and nothing runs it again, so there is nothing to cancel (pgmill dlq list)`;
    case "finished": {
      const last = await lastRunOf(db, id);
      const how = last ? ` (attempt ${last.attempt} was recorded ${last.status} at ${last.finished_at.toISOString()})` : "";
      return `job ${id} has already finished${how}: nothing to cancel`;
    }
    case "not_found":
      return `job ${id} not found: no such job is queued or running, and no history has it`;
  }
}
