import { randomBytes } from "node:crypto";
import pg from "pg";
import { pino } from "pino";
import type { TestProject } from "vitest/node";
import { openDatabase } from "../../src/db/database.js";
import { migrate } from "../../src/db/migrate.js";
import { startTestServer, type TestServer } from "./postgres-server.js";
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
  server = await startTestServer(process.env);
  template = `pgmill_template_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${admin.escapeIdentifier(template)}`);
  } finally {
    await admin.end();
  }
  const database = openDatabase(databaseUrl(server.adminUrl, template), { maxConnections: 4 });
  try {
    await migrate(database.db, database.pool, pino({ level: "warn" }));
  } finally {
    await database.close();
  }
  process.stdout.write(`pgmill tests: Postgres from ${server.source}\n`);
  project.provide("adminUrl", server.adminUrl);
  project.provide("templateDatabase", template);
}

export async function teardown(): Promise<void> {
  if (server && template) {
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    await admin.query(`drop database if exists ${admin.escapeIdentifier(template)} with (force)`).catch(() => undefined);
    await admin.end();
  }
  await server?.stop();
}
