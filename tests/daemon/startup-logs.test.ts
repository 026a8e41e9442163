import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { builtInTasks as tasks } from "../../src/tasks/index.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

describe("daemon start-up", () => {
  it("starts at the default concurrency and pool size without a warning", async () => {
    const defaults = loadConfig({}, {});
    const { logs } = await startTestDaemon(db, tasks, {
      settings: { PGMILL_CONCURRENCY: String(defaults.concurrency), PGMILL_DB_POOL_SIZE: String(defaults.databasePoolSize) },
    });
    expect(logs.lines.some((l) => l.msg === "pgmill daemon running")).toBe(true);
    // graphile-worker's pool-smaller-than-concurrency advice is logged at debug: pgmill's handlers get no connection.
    expect(logs.lines.find((l) => String(l.msg).includes("smaller than concurrency"))).toMatchObject({ level: 20 });
    expect(logs.lines.filter((l) => Number(l.level) >= 40)).toEqual([]);
  });
});
