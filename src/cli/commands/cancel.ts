import type { Command } from "commander";
import { z } from "zod";
import { cancelJob, lastRunOf, type CancelResult } from "../../controls/cancel-queries.js";
import type { Db } from "../../db/database.js";
import { checkAll } from "../../errors.js";
import { bigintId, durationSeconds, parseArguments } from "../arguments.js";
import { commandConfig, withDatabase } from "../with-database.js";

const cancelArguments = z.object({ id: bigintId, wait: durationSeconds.optional() });

/** How often --wait asks again: cancel_job is idempotent, and says `finished` once the job is gone. */
const WAIT_POLL_MS = 250;

interface Said {
  readonly result: CancelResult;
  readonly cancelled: boolean;
  readonly message: string;
}

export function registerCancel(program: Command): void {
  program
    .command("cancel")
    .description("cancel a job: a queued one is removed, a running one's signal aborts (pgmill.cancel_job)")
    .argument("<job-id>", "the job's id (pgmill status, pgmill history, add_job's result)")
    .option("--wait <duration>", "if it is running, wait up to this long (30s, 5m) for its attempt to be recorded cancelled")
    .option("--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)")
    .option("--json", "print JSON")
    .action(async (jobId: string, options: { wait?: string; json?: boolean; databaseUrl?: string }) => {
      const [{ id, wait }, config] = checkAll([
        () => parseArguments(cancelArguments, { id: jobId, wait: options.wait }, { id: "<job-id>" }),
        () => commandConfig(options),
      ]);
      await withDatabase(config, async ({ database }) => {
        let said = await say(database.db, id, await cancelJob(database.db, id));
        if (said.result === "cancelling" && wait !== undefined) said = await waitForCancel(database.db, id, wait);
        // Exit 0 when the job is or will be cancelled; 1 when there was nothing to cancel (said on stderr).
        const { result, message } = said;
        if (options.json) process.stdout.write(`${JSON.stringify({ job_id: id, result, cancelled: said.cancelled, message }, null, 2)}\n`);
        else if (said.cancelled) process.stdout.write(`${message}\n`);
        else process.stderr.write(`pgmill: ${message}\n`);
        if (!said.cancelled) process.exitCode = 1;
      });
    });
}

/** Until the job is gone (or removed as queued): cancel_job again each time, as it is idempotent. */
async function waitForCancel(db: Db, id: string, seconds: number): Promise<Said> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    const result = await cancelJob(db, id);
    if (result !== "cancelling") return say(db, id, result, { waited: true });
    if (Date.now() >= deadline) {
      return {
        result,
        cancelled: false,
        message:
          `job ${id} is still running after ${seconds}s: its signal was aborted, but its handler has not returned ` +
          `(does it ignore its signal?); the cancel stays requested and applies when it does`,
      };
    }
  }
}

async function say(db: Db, id: string, result: CancelResult, options: { waited?: boolean } = {}): Promise<Said> {
  switch (result) {
    case "cancelled":
      return {
        result,
        cancelled: true,
        message: `job ${id} was queued: removed, and recorded cancelled in its history (pgmill history --job ${id})`,
      };
    case "cancelling":
      return {
        result,
        cancelled: true,
        message:
          `job ${id} is running: the daemon running it aborts its handler's signal within a second; ` +
          `the attempt is recorded cancelled once the handler returns, and not retried (pgmill history --job ${id})`,
      };
    case "dead_letter":
      return {
        result,
        cancelled: false,
        message: `job ${id} has used all its attempts: it is a dead letter and nothing runs it again, so there is nothing to cancel (pgmill dlq list)`,
      };
    case "finished": {
      const last = await lastRunOf(db, id);
      const how = last ? `attempt ${last.attempt} was recorded ${last.status} at ${last.finished_at.toISOString()}` : "";
      if (options.waited && last?.status === "cancelled") {
        return { result: "cancelled", cancelled: true, message: `job ${id} cancelled: ${how}` };
      }
      return {
        result,
        cancelled: false,
        message: options.waited
          ? `job ${id} finished before the cancel reached it${how ? ` (${how})` : ""}`
          : `job ${id} has already finished${how ? ` (${how})` : ""}: nothing to cancel`,
      };
    }
    case "not_found":
      return { result, cancelled: false, message: `job ${id} not found: no such job is queued or running, and no history has it` };
  }
}
