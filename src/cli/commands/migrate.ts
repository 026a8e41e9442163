import type { Command } from "commander";
import { printObject } from "../output.js";
import { withDatabase } from "../with-database.js";

export function registerMigrate(program: Command): void {
  program
    .command("migrate")
    .description("apply graphile-worker's and pgmill's migrations, then exit (safe to run from many pods at once)")
    .option("--database-url <url>", "Postgres connection string (default: embedded Postgres)")
    .option("--json", "print JSON")
    .action(async (options: { databaseUrl?: string; json?: boolean }) => {
      await withDatabase(options, async ({ connectionString }) => {
        printObject({ migrated: true, database: redactPassword(connectionString) }, { json: options.json === true });
      });
    });
}

function redactPassword(connectionString: string): string {
  const url = new URL(connectionString);
  if (url.password) url.password = "***";
  return url.toString();
}
