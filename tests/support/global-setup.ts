import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { pino } from "pino";
import type { TestProject } from "vitest/node";
import { openDatabase } from "../../src/db/database.js";
import { migrate } from "../../src/db/migrate.js";
import { buildDist } from "./built-dist.js";
import { startTestServer, type TestServer } from "./postgres-server.js";
import { createDatabase, dropDatabase } from "./database-admin.js";
import { databaseUrl } from "./database-url.js";

declare module "vitest" {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
  }
}

let server: TestServer | undefined;
let template: string | undefined;

/** Starts Postgres once and migrates a template database that each test file clones. */
export async function setup(project: TestProject): Promise<void> {
  buildDist();
  server = await startTestServer(process.env);
  template = `pgmill_template_${randomBytes(4).toString("hex")}`;
  await createDatabase(server.adminUrl, template);
  const database = openDatabase(databaseUrl(server.adminUrl, template), { maxConnections: 4 });
  let version: string;
  try {
    await migrate(database.db, database.pool, pino({ level: "warn" }));
    // Said once per run, so a CI log shows which major each pass ran on.
    version = (await sql<{ server_version: string }>`show server_version`.execute(database.db)).rows[0]!.server_version;
  } finally {
    await database.close();
  }
  process.stdout.write(`pgmill tests: Postgres ${version} from ${server.source}\n`);
  project.provide("adminUrl", server.adminUrl);
  project.provide("templateDatabase", template);
}

export async function teardown(): Promise<void> {
  if (server && template) {
    await dropDatabase(server.adminUrl, template).catch(() => undefined);
  }
  await server?.stop();
}
