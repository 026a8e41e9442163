import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { openDatabase, type DatabaseHandle } from "../../src/db/database.js";
import { databaseUrl } from "./database-url.js";
import { onFileCleanup } from "./file-cleanup.js";

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** A pool and kysely instance on it, closed after the file's tests. */
  readonly handle: DatabaseHandle;
}

/**
 * A fresh database cloned from the migrated template: isolated per test file
 * (so files run in parallel), dropped when the file is done.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("adminUrl");
  const name = `pgmill_test_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(
      `create database ${admin.escapeIdentifier(name)} template ${admin.escapeIdentifier(inject("templateDatabase"))}`,
    );
  } finally {
    await admin.end();
  }
  const url = databaseUrl(adminUrl, name);
  const handle = openDatabase(url, { maxConnections: 5, applicationName: "pgmill-test" });
  onFileCleanup(async () => {
    await handle.close();
    const dropper = new pg.Client({ connectionString: adminUrl });
    await dropper.connect();
    await dropper.query(`drop database if exists ${dropper.escapeIdentifier(name)} with (force)`);
    await dropper.end();
  });
  return { url, name, handle };
}
