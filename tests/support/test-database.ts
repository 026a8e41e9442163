import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { openDatabase, type DatabaseHandle } from "../../src/db/database.js";
import { createDatabase, dropDatabase } from "./database-admin.js";
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
  await createDatabase(adminUrl, name, { template: inject("templateDatabase") });
  const url = databaseUrl(adminUrl, name);
  const handle = openDatabase(url, { maxConnections: 5, applicationName: "pgmill-test" });
  onFileCleanup(async () => {
    await handle.close();
    await dropDatabase(adminUrl, name);
  });
  return { url, name, handle };
}
