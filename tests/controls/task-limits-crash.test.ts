import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { limitedTaskStatus } from "../../src/controls/task-limit-queries.js";
import { builtInTasks } from "../../src/tasks/index.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { expectSuccess, parseTable, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { spawnDaemon } from "../support/daemon-process.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { createTestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";
import { maxOverlap } from "../support/attempt-timeline.js";

// kill -9 of a daemon holding concurrency slots: its slots go with it (the
// survivor's reaper, and slots whose job is no longer locked never count), the
// limit holds after recovery, and no job is lost. The victim runs the task from
// a user's tasks directory (`pgmill run` with PGMILL_TASKS), the survivor from
// a task registry in process: the limit is the task's, wherever it is defined.

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const made: string[] = [];
afterAll(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

const LIMIT = 2;
const JOBS = 8;

const taskFile = `import { z } from "zod";
import { defineTask } from ${JSON.stringify(path.join(ROOT, "src/index.ts"))};
export default defineTask({
  name: "crash-limited",
  payload: z.object({ ms: z.number() }),
  concurrency: ${LIMIT},
  handler: ({ ms }) => new Promise((resolve) => setTimeout(resolve, ms)),
});
`;

const survivorTasks = taskRegistry(
  ...Object.values(builtInTasks),
  defineTask({
    name: "crash-limited",
    payload: z.object({ ms: z.number() }),
    concurrency: LIMIT,
    handler: ({ ms }) => new Promise((resolve) => setTimeout(resolve, ms)),
  }),
);


describe("kill -9 of a daemon holding task slots", () => {
  it("frees its slots on recovery, keeps the limit afterwards, and loses no job", async () => {
    const db = await createTestDatabase();
    await mkdir(path.join(ROOT, "tests/.tmp"), { recursive: true });
    const dir = await mkdtemp(path.join(ROOT, "tests/.tmp/limits-"));
    made.push(dir);
    await writeFile(path.join(dir, "crash-limited.ts"), taskFile);

    const victim = await spawnDaemon({
      DATABASE_URL: db.url,
      PGMILL_TASKS: dir,
      PGMILL_HEARTBEAT_INTERVAL: "0.5",
      PGMILL_DEAD_AFTER: "2",
    });
    const running = await victim.waitForLog("pgmill daemon running", 60_000);
    const victimId = String(running.daemonId);
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) ids.push(await addJobWithSql(db.handle.db, "crash-limited", { ms: 1500 }, { maxAttempts: 3 }));

    // The victim holds every slot (the others wait, parked): kill it then.
    await waitFor("the victim to hold all slots", async () => {
      const { rows: slots } = await sql<{ daemon_id: string }>`select daemon_id from pgmill.live_task_slots()`.execute(db.handle.db);
      return slots.length === LIMIT && slots.every((s) => s.daemon_id === victimId);
    }, 30_000, 10);
    victim.child.kill("SIGKILL");
    await victim.exited;
    const left = await db.handle.db.selectFrom("pgmill.task_slots").selectAll().where("daemon_id", "=", victimId).execute();
    expect(left).toHaveLength(LIMIT);

    // What an operator sees meanwhile: the limit, and its slots in use (their jobs still locked by the dead daemon).
    const status = await runCli(["status", "--json", "--tasks", dir], { databaseUrl: db.url });
    expectSuccess(status);
    const { limits } = JSON.parse(status.stdout) as { limits: unknown[] };
    expect(limits).toEqual([
      { task: "crash-limited", concurrency: LIMIT, running: LIMIT, waiting_for_slot: expect.any(Number), rate_limit: null, started_this_window: null },
    ]);
    const text = expectSuccess(await runCli(["status", "--tasks", dir], { databaseUrl: db.url }));
    const section = text.split("\n\n").find((block) => block.startsWith("Limited tasks (cluster-wide)\n"));
    const table = parseTable(section!.split("\n").slice(1).join("\n"));
    expect(table.header).toEqual(["task", "concurrency", "running", "waiting_for_slot", "rate_limit", "started_this_window"]);
    expect(table.rows).toEqual([expect.objectContaining({ task: "crash-limited", concurrency: String(LIMIT), running: String(LIMIT) })]);

    const survivor = await startTestDaemon(db, survivorTasks, { settings: { PGMILL_HEARTBEAT_INTERVAL: "0.5", PGMILL_DEAD_AFTER: "2" } });
    await waitFor("every job to succeed", async () => {
      const done = await db.handle.db.selectFrom("pgmill.job_runs").select("job_id").where("status", "=", "succeeded").execute();
      return done.length === JOBS;
    }, 90_000, 200);

    const runs = await db.handle.db.selectFrom("pgmill.job_runs").selectAll().orderBy("started_at").execute();
    const succeeded = runs.filter((r) => r.status === "succeeded");
    expect(new Set(succeeded.map((r) => String(r.job_id)))).toEqual(new Set(ids));
    // After recovery the survivor ran everything, never more than the limit at once, and reached it.
    expect(succeeded.every((r) => r.daemon_id === survivor.daemon.id)).toBe(true);
    expect(maxOverlap(succeeded)).toBe(LIMIT);
    // The attempts the crash cut short are `lost` and retried: the two holding slots, and any job the victim had
    // fetched and not yet parked (as for any task: a fetched job's attempt is spent). No other attempt was spent.
    const lost = runs.filter((r) => r.status === "lost");
    expect(lost.length).toBeGreaterThanOrEqual(LIMIT);
    expect(lost.every((r) => r.daemon_id === victimId)).toBe(true);
    for (const heldSlot of left) expect(lost.map((l) => String(l.job_id))).toContain(String(heldSlot.job_id));
    const history = (jobId: string) => runs.filter((r) => r.job_id === jobId).map((r) => `${r.attempt}:${r.status}`);
    for (const run of succeeded) {
      expect(history(run.job_id)).toEqual([...lost.filter((l) => l.job_id === run.job_id).map((l) => `${l.attempt}:lost`), `${run.attempt}:succeeded`]);
      expect(run.attempt).toBe(1 + lost.filter((l) => l.job_id === run.job_id).length);
    }
    expect(await db.handle.db.selectFrom("pgmill.dead_letters").select("id").execute()).toEqual([]);

    // The victim's slots are gone, and nothing is held now.
    expect(await db.handle.db.selectFrom("pgmill.task_slots").selectAll().where("daemon_id", "=", victimId).execute()).toEqual([]);
    await waitFor("the last slot to be given back", async () =>
      (await limitedTaskStatus(db.handle.db, [survivorTasks["crash-limited"]!]))[0]!.running === 0,
    );
  }, SLOW_CLI_TIMEOUT);
});
