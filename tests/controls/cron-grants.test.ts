import { sql } from "kysely";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { checkOverlapSkip, pruneOverlapSkips } from "../../src/engine/cron-ticks.js";
import { openDatabase, type DatabaseHandle } from "../../src/db/database.js";
import type { JobInfo } from "../../src/index.js";
import { defineTask, taskRegistry } from "../../src/tasks/define-task.js";
import { expectSuccess, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { withAdmin } from "../support/database-admin.js";
import { createEmptyDatabase, createLoginRole, type LoginRole } from "../support/database-roles.js";
import { databaseUrl } from "../support/database-url.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

// pgmill.grant_runtime_part_cron: a daemon and the CLI running as the runtime
// role can use every crontab control, and nothing more than they need.
const jobs: JobInfo[] = [];
let release: () => void = () => undefined;
const tasks = taskRegistry(
  defineTask({
    name: "beat",
    payload: z.object({}),
    handler: async (_p, { job }) => {
      jobs.push(job);
      // The first run is held, so the line's next ticks are skipped (overlap=skip).
      if (jobs.length === 1) await new Promise<void>((resolve) => (release = resolve));
    },
  }),
);

let owner: LoginRole;
let runtime: LoginRole;
let asOwner: DatabaseHandle;
let asRuntime: DatabaseHandle;
let daemon: TestDaemon;

beforeAll(async () => {
  owner = await createLoginRole("pgmill_owner");
  runtime = await createLoginRole("pgmill_runtime");
  const database = await createEmptyDatabase(owner);
  await withAdmin(databaseUrl(inject("adminUrl"), database), (admin) => admin.query("revoke create on schema public from public"));
  expectSuccess(await runCli(["migrate", "--grant-runtime", runtime.name], { databaseUrl: owner.url(database) }));
  asOwner = openDatabase(owner.url(database), { maxConnections: 2, applicationName: "pgmill-test" });
  asRuntime = openDatabase(runtime.url(database), { maxConnections: 2, applicationName: "pgmill-test" });
  onFileCleanup(() => asOwner.close());
  onFileCleanup(() => asRuntime.close());
  daemon = await startTestDaemon({ url: runtime.url(database), name: database, handle: asRuntime }, tasks, {
    crontab: "@every 1s beat ?id=every-rt&overlap=skip\n0 3 1 1 * beat ?id=yearly-rt\n",
  });
}, SLOW_CLI_TIMEOUT);

describe("the runtime role and the crontab controls", () => {
  it("publishes lines, schedules @every ticks and records their skips", async () => {
    const { rows } = await sql<{ identifier: string }>`select identifier from pgmill.cron_lines order by 1`.execute(asOwner.db);
    expect(rows.map((r) => r.identifier)).toEqual(["every-rt", "yearly-rt"]);
    await waitFor("a held run", () => jobs.length === 1);
    await waitFor("a skipped tick", async () => {
      const skips = await sql<{ n: number }>`select count(*)::int as n from pgmill.cron_overlap_skips`.execute(asOwner.db);
      return skips.rows[0]!.n > 0;
    });
    release();
    await waitFor("the next run", () => jobs.length >= 2);
    expect(daemon.logs.text()).not.toMatch(/cannot publish|cannot read crontab pauses|could not enqueue an @every tick|cannot record a crontab tick/);
  });

  it("pauses, resumes and runs a line now through the functions, and records minute-line skips", async () => {
    await sql`select pgmill.pause_cron('yearly-rt')`.execute(asRuntime.db);
    await waitFor("the daemon to see the pause", () => daemon.logs.lines.some((l) => (l.paused as string[] | undefined)?.includes("yearly-rt")));
    const resumed = await sql<{ r: boolean }>`select pgmill.resume_cron('yearly-rt') as r`.execute(asRuntime.db);
    expect(resumed.rows[0]!.r).toBe(true);
    const job = await sql<{ id: string }>`select pgmill.run_cron_now('yearly-rt') as id`.execute(asRuntime.db);
    await waitFor("the run", () => jobs.some((j) => j.id === String(job.rows[0]!.id) && j.cron?.manual));
    expect(await checkOverlapSkip(asRuntime.db, "yearly-rt", "pgmill-cron:yearly-rt", new Date())).toEqual({ skipped: false, counted: false });
    await pruneOverlapSkips(asRuntime.db);
  });

  it("cannot write pauses except through pause_cron and resume_cron", async () => {
    await expect(sql`insert into pgmill.cron_pauses (identifier) values ('yearly-rt')`.execute(asRuntime.db)).rejects.toThrow(/permission denied/);
    await expect(sql`update pgmill.cron_pauses set resumed_at = null`.execute(asRuntime.db)).rejects.toThrow(/permission denied/);
  });
});
