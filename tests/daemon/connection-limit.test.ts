import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { pino } from "pino";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { CapChange } from "../../src/db/connection-cap.js";
import { openDatabase } from "../../src/db/database.js";
import { transientConnectionCause, untilConnected } from "../../src/db/until-connected.js";
import { createDatabase, dropDatabase, withAdmin } from "../support/database-admin.js";
import { databaseUrl } from "../support/database-url.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { waitFor } from "../support/wait-for.js";

const LIMIT = 2;
let url = "";

// A role of its own with a CONNECTION LIMIT (superusers are exempt from limits).
beforeAll(async () => {
  const adminUrl = inject("adminUrl");
  const suffix = randomBytes(4).toString("hex");
  const role = `pgmill_limited_${suffix}`;
  const database = `pgmill_test_limit_${suffix}`;
  await withAdmin(adminUrl, (admin) => admin.query(`create role ${admin.escapeIdentifier(role)} login password 'unused' connection limit ${LIMIT}`));
  onFileCleanup(() => withAdmin(adminUrl, (admin) => admin.query(`drop role if exists ${admin.escapeIdentifier(role)}`)));
  await createDatabase(adminUrl, database, { owner: role });
  onFileCleanup(() => dropDatabase(adminUrl, database));
  const target = new URL(databaseUrl(adminUrl, database));
  target.username = role;
  target.password = "unused";
  url = target.toString();
});

const sleepers = (db: ReturnType<typeof openDatabase>["db"], n: number) =>
  Promise.allSettled(Array.from({ length: n }, () => sql`select pg_sleep(0.2)`.execute(db)));

describe("a connection limit below the pool size", () => {
  it("caps the pool at what the server allows after the first refusal, so later callers wait instead of failing", async () => {
    const changes: CapChange[] = [];
    const handle = openDatabase(url, { maxConnections: 6, onCapChange: (c) => changes.push(c) });

    const first = await sleepers(handle.db, 6);
    const refused = first.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason as { code?: string });
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((e) => e.code === "53300")).toBe(true);
    expect(changes[0]).toMatchObject({ cap: LIMIT, size: 6 });
    expect(changes[0]!.refusal?.message).toMatch(/too many connections for role/);

    const second = await sleepers(handle.db, 6);
    expect(second.filter((r) => r.status === "rejected")).toEqual([]);
    expect(handle.pool.totalCount).toBeLessThanOrEqual(LIMIT);
    await handle.close();
  });

  it("waits out refusals at start-up with a message naming the cause, then goes on", async () => {
    // Other sessions hold every allowed connection for a while.
    // (The server may take a moment to end the previous test's sessions.)
    const connectHog = () => {
      const hog = new pg.Client({ connectionString: url });
      return hog.connect().then(() => hog);
    };
    const hogs: pg.Client[] = [];
    for (let i = 0; i < LIMIT; i++) hogs.push(await waitFor("a free connection", connectHog, 10_000, 100));
    setTimeout(() => hogs.forEach((hog) => void hog.end()), 1_500);
    const lines: string[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void lines.push(JSON.parse(line).msg as string) });
    const handle = openDatabase(url, { maxConnections: 4 });
    onFileCleanup(() => handle.close());

    const { rows } = await untilConnected("query the database", () => sql<{ one: number }>`select 1 as one`.execute(handle.db), logger);
    expect(rows).toEqual([{ one: 1 }]);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/^cannot query the database: too many connections: .*\(SQLSTATE 53300\): too many connections for role .*; retrying in 500 ms$/);
  });

  it("treats bad credentials or a missing database as final, not something to wait out", () => {
    expect(transientConnectionCause({ code: "28P01", message: "password authentication failed" })).toBeNull();
    expect(transientConnectionCause({ code: "3D000", message: 'database "x" does not exist' })).toBeNull();
    expect(transientConnectionCause(new Error("migration 0004 failed"))).toBeNull();
    expect(transientConnectionCause({ code: "ECONNREFUSED" })).toMatch(/cannot be reached/);
    expect(transientConnectionCause({ code: "57P03" })).toMatch(/starting up/);
    expect(transientConnectionCause({ code: "08006" })).toMatch(/connection exception/);
  });
});
