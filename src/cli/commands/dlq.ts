import type { Command } from "commander";
import { z } from "zod";
import { listDeadLetters, purgeDeadLetters, retryDeadLetter, retryDeadLetters } from "../../dead-letters/queries.js";
import { checkAll, PgmillError } from "../../errors.js";
import { bigintId, durationSeconds, parseArguments, positiveInt } from "../arguments.js";
import { printObject, printRows } from "../output.js";
import { commandConfig, withDatabase } from "../with-database.js";

const DB_FLAG = ["--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)"] as const;

export function registerDlq(program: Command): void {
  const dlq = program.command("dlq").description("dead letters: jobs that failed for good");

  dlq
    .command("list")
    .description("dead letters, newest first (not yet retried unless --all)")
    .option("--task <name>", "only this task")
    .option("--all", "include letters already retried")
    .option("--limit <n>", "at most this many", "50")
    .option(...DB_FLAG)
    .option("--json", "print JSON")
    .action(async (options: { task?: string; all?: boolean; limit: string; json?: boolean; databaseUrl?: string }) => {
      const [{ limit }, config] = checkAll([
        () => parseArguments(z.object({ limit: positiveInt.max(10_000) }), options),
        () => commandConfig(options),
      ]);
      await withDatabase(config, async ({ database }) => {
        const rows = await listDeadLetters(database.db, { task: options.task, includeRetried: options.all, limit });
        printRows(rows, { json: options.json === true, empty: "no dead letters" });
      });
    });

  dlq
    .command("retry")
    .description("re-enqueue a dead letter by id, or every pending one with --all")
    .argument("[id]", "dead letter id (see `pgmill dlq list`)")
    .option("--all", "retry every pending dead letter")
    .option("--task <name>", "with --all: only this task")
    .option(...DB_FLAG)
    .option("--json", "print JSON")
    .action(async (id: string | undefined, options: { all?: boolean; task?: string; json?: boolean; databaseUrl?: string }) => {
      if ((id === undefined) === (options.all !== true)) {
        throw new PgmillError("PGMILL_INVALID_CONFIG", "dlq retry: give a dead letter id, or --all (not both)");
      }
      if (id !== undefined && options.task !== undefined) {
        throw new PgmillError("PGMILL_INVALID_CONFIG", "dlq retry: --task goes with --all, not with an id");
      }
      const [, config] = checkAll([
        () => (id === undefined ? undefined : parseArguments(z.object({ id: bigintId }), { id }, { id: "[id]" })),
        () => commandConfig(options),
      ]);
      await withDatabase(config, async ({ database }) => {
        const result =
          id !== undefined
            ? { dead_letter_id: id, new_job_id: await retryDeadLetter(database.db, id) }
            : { retried: await retryDeadLetters(database.db, options.task) };
        printObject(result, { json: options.json === true });
      });
    });

  dlq
    .command("purge")
    .description("delete dead letters older than a duration")
    .option("--older-than <duration>", "e.g. 7d, 12h, 2w", "30d")
    .option(...DB_FLAG)
    .option("--json", "print JSON")
    .action(async (options: { olderThan: string; json?: boolean; databaseUrl?: string }) => {
      const [{ olderThan }, config] = checkAll([
        () => parseArguments(z.object({ olderThan: durationSeconds }), options),
        () => commandConfig(options),
      ]);
      await withDatabase(config, async ({ database }) => {
        printObject({ purged: await purgeDeadLetters(database.db, olderThan) }, { json: options.json === true });
      });
    });
}
