import http from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnDaemon, type DaemonProcess } from "../support/daemon-process.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

const DEAD_AFTER_S = 4;

// Jobs are http calls to this server: the first request for each id hangs
// (the daemon running it dies), later ones answer at once.
const seen = new Map<string, number>();
const server = http.createServer((req, res) => {
  const id = req.url ?? "";
  const count = (seen.get(id) ?? 0) + 1;
  seen.set(id, count);
  if (count > 1) res.end("ok");
});
let baseUrl = "";
let db: TestDatabase;
const daemons: DaemonProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const d of daemons) d.child.kill("SIGKILL");
  server.closeAllConnections();
  server.close();
});

describe("kill -9 of one of two daemons", () => {
  it("has the survivor record lost attempts, release the jobs and rerun them within the threshold, dead-lettering last attempts", async () => {
    const env = {
      DATABASE_URL: db.url,
      // Enough slots that whichever daemon's local queue grabs the jobs runs them all at once.
      PGMILL_CONCURRENCY: "8",
      PGMILL_HEARTBEAT_INTERVAL: "0.5",
      PGMILL_DEAD_AFTER: String(DEAD_AFTER_S),
      PGMILL_SHUTDOWN_TIMEOUT: "1",
    };
    const [a, b] = [await spawnDaemon(env), await spawnDaemon(env)];
    daemons.push(a!, b!);
    await Promise.all([a!.waitForLog("pgmill daemon running"), b!.waitForLog("pgmill daemon running")]);

    const jobIds = [];
    for (let i = 0; i < 6; i++) jobIds.push(await addJobWithSql(db.handle.db, "http", { url: `${baseUrl}/job-${i}` }, { maxAttempts: 5 }));
    const lastChance = await addJobWithSql(db.handle.db, "http", { url: `${baseUrl}/last-chance` }, { maxAttempts: 1 });
    await waitFor("every job to be running", () => seen.size === 7);

    // Kill whichever daemon holds the last-chance job (so both outcomes are exercised), -9.
    const holder = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("locked_by").where("id", "=", lastChance).executeTakeFirstOrThrow();
    const rows = await db.handle.db.selectFrom("pgmill.daemons").select(["id", "pid", "worker_ids"]).execute();
    const victim = rows.find((r) => r.worker_ids.includes(holder.locked_by!))!;
    const victimProcess = daemons.find((d) => d.child.pid === victim.pid)!;
    const heldByVictim = await withEngineTables(db.handle.db).selectFrom("graphile_worker.jobs").select("id").where("locked_by", "in", victim.worker_ids).execute();
    expect(heldByVictim.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    victimProcess.child.kill("SIGKILL");

    // The survivor reruns every job the victim held (the retries answer at once).
    const rerun = heldByVictim.map((j) => j.id).filter((id) => id !== lastChance);
    await waitFor(
      "the victim's jobs to succeed on the survivor",
      async () => {
        const done = await db.handle.db
          .selectFrom("pgmill.job_runs")
          .select("job_id")
          .where("status", "=", "succeeded")
          .where("job_id", "in", rerun.length ? rerun : ["0"])
          .execute();
        return done.length === rerun.length;
      },
      60_000,
      200,
    );
    const recoveredInMs = Date.now() - killedAt;
    // Threshold plus a margin of heartbeats, poll and process time; far below graphile-worker's 4 hours.
    expect(recoveredInMs).toBeLessThan((DEAD_AFTER_S + 15) * 1000);

    const lost = await db.handle.db.selectFrom("pgmill.job_runs").selectAll().where("status", "=", "lost").execute();
    expect(lost.map((r) => r.job_id).sort()).toEqual(heldByVictim.map((j) => j.id).sort());
    expect(lost.every((r) => r.daemon_id === victim.id && /stopped heartbeating/.test(r.error_message ?? ""))).toBe(true);

    const letter = await db.handle.db.selectFrom("pgmill.dead_letters").selectAll().where("job_id", "=", lastChance).executeTakeFirstOrThrow();
    expect(letter).toMatchObject({ reason: "daemon_lost", task: "http" });
    expect(letter.payload).toEqual({ url: `${baseUrl}/last-chance` });
    expect(letter.last_error).toMatch(/stopped heartbeating/);

    const state = await db.handle.db.selectFrom("pgmill.daemons").select(["state", "reaped_by"]).where("id", "=", victim.id).executeTakeFirstOrThrow();
    expect(state.state).toBe("dead");
    expect(rows.map((r) => r.id)).toContain(state.reaped_by);
    // Nothing left locked by the dead daemon.
    const stillLocked = await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs where locked_by = any(${victim.worker_ids}::text[])`.execute(db.handle.db);
    expect(stillLocked.rows[0]!.n).toBe(0);
  }, 120_000);
});
