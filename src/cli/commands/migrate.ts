import type { Command } from "commander";
import type { Db } from "../../db/database.js";
import { createPrivilegeWarning, grantRuntimeRole } from "../../db/runtime-role.js";
import { PgmillError } from "../../errors.js";
import { printObject } from "../output.js";
import { commandConfig, withDatabase } from "../with-database.js";

export function registerMigrate(program: Command): void {
  program
    .command("migrate")
    .description("apply graphile-worker's and pgmill's migrations, then exit (safe to run from many pods at once)")
    .option("--database-url <url>", "Postgres connection string (default: the running daemon's embedded Postgres)")
    .option("--direct-url <url>", "direct (or session-mode) connection to migrate over when --database-url is a transaction pooler")
    .option("--grant-runtime <role>", "then grant this existing role what a daemon needs, and no DDL (least privilege)")
    .option("--json", "print JSON")
    .action(async (options: { databaseUrl?: string; directUrl?: string; grantRuntime?: string; json?: boolean }) => {
      await withDatabase(commandConfig(options), async ({ connectionString, database }) => {
        if (options.grantRuntime) await grantRuntime(database.db, options.grantRuntime);
        printObject(
          {
            migrated: true,
            database: redactPassword(connectionString),
            ...(options.grantRuntime ? { runtime_role: options.grantRuntime } : {}),
          },
          { json: options.json === true },
        );
      });
    });
}

/** Grants the role, and warns on stderr (naming the statement to run) for each way it could still create objects. */
async function grantRuntime(db: Db, role: string): Promise<void> {
  try {
    for (const leak of await grantRuntimeRole(db, role)) {
      process.stderr.write(`pgmill: warning: ${createPrivilegeWarning(role, leak)}\n`);
    }
  } catch (error) {
    // A missing role, or the owner itself: said by grant_runtime, fixable by the user.
    const code = (error as { code?: unknown }).code;
    if (code === "42704" || code === "0LP01") {
      throw new PgmillError("PGMILL_INVALID_CONFIG", `--grant-runtime: ${(error as Error).message}`);
    }
    throw error;
  }
}

function redactPassword(connectionString: string): string {
  const url = new URL(connectionString);
  if (url.password) url.password = "***";
  return url.toString();
}
