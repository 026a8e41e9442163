import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, type JobInfo } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon, type TestDaemon } from "../support/test-daemon.js";
import { addJobWithSql, runsOf } from "../support/sql-jobs.js";
import { waitFor } from "../support/wait-for.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { expectUserError, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";

const ticks: { payload: unknown; cron: JobInfo["cron"] }[] = [];
let releaseBlocker: () => void = () => undefined;
let blockerStarted = false;

const tasks = taskRegistry(
  defineTask({
    name: "tick",
    payload: z.object({ label: z.string() }),
    handler: async (payload, { job }) => void ticks.push({ payload, cron: job.cron }),
  }),
  defineTask({
    name: "blocker",
    payload: z.object({}),
    handler: async () => {
      blockerStarted = true;
      await new Promise<void>((resolve) => (releaseBlocker = resolve));
    },
  }),
);

let db: TestDatabase;
let running: TestDaemon;

beforeAll(async () => {
  db = await createTestDatabase();
  running = await startTestDaemon(db, tasks, { crontab: `* * * * * tick ?id=every-minute {label: "first"}\n` });
});

describe("crontab in the daemon", () => {
  it("enqueues on schedule, hands the handler its payload without _cron, and the fire time as job.cron", async () => {
    const tick = await waitFor("the every-minute line to fire", () => ticks.find((t) => (t.payload as { label: string }).label === "first"), 70_000, 200);
    expect(tick.payload).toEqual({ label: "first" });
    expect(tick.cron).toMatchObject({ backfilled: false });
    expect(new Date(tick.cron!.ts).getUTCSeconds()).toBe(0);
  }, 80_000);

  it("reloads a changed file without touching running jobs, and rejects an invalid one keeping the old schedule", async () => {
    const blockerId = await addJobWithSql(db.handle.db, "blocker", {});
    await waitFor("the blocker to start", () => blockerStarted);

    await writeFile(running.crontabPath, `*/5 * * * * tick ?id=five-minutely {label: "second"}\n`);
    await waitFor("the watcher to reload", () => running.daemon.crontab.entries.some((e) => e.identifier === "five-minutely"));
    expect(running.daemon.crontab.entries.map((e) => e.identifier)).toEqual(["five-minutely"]);

    await writeFile(running.crontabPath, `61 * * * * tick {label: "bad"}\nnot a line\n`);
    const rejected = await waitFor("the invalid file to be rejected", () =>
      running.logs.lines.find((l) => l.msg === "crontab rejected; the previous schedule keeps running"),
    );
    expect(JSON.stringify(rejected)).toMatch(/crontab:1: .*61/);
    expect(JSON.stringify(rejected)).toMatch(/crontab:2: /);
    expect(running.daemon.crontab.entries.map((e) => e.identifier)).toEqual(["five-minutely"]);

    // A fixed file is a new schedule; re-reading it unchanged is not.
    await writeFile(running.crontabPath, `0 * * * * tick ?id=hourly {label: "third"}\n`);
    await waitFor("the fixed file to load", () => running.daemon.crontab.entries.some((e) => e.identifier === "hourly"));
    expect(await running.daemon.crontab.reload()).toBe(false);

    // The job that was running through all of this finishes normally.
    expect(running.daemon.attempts.runningCount).toBe(1);
    releaseBlocker();
    const [run] = await waitFor("the blocker's history row", async () => {
      const runs = await runsOf(db.handle.db, blockerId);
      return runs.length ? runs : null;
    });
    expect(run!.status).toBe("succeeded");
  });
});

describe("a crontab that cannot be read", () => {
  /** The first log line with this message after `from`, once the watcher has logged it. */
  const logAfter = (from: number, msg: string) =>
    waitFor(`log line ${msg}`, () => running.logs.lines.slice(from).find((l) => l.msg === msg));
  const identifiers = () => running.daemon.crontab.entries.map((e) => e.identifier);

  it("keeps the previous schedule through a directory, a symlink loop and a deleted file, and says why", async () => {
    const file = running.crontabPath;
    await writeFile(file, `0 * * * * tick ?id=kept {label: "kept"}\n`);
    await waitFor("the file to load", () => identifiers().includes("kept"));

    // A ConfigMap swap gone wrong: the crontab is now a directory.
    let from = running.logs.lines.length;
    await rm(file);
    await mkdir(file);
    expect(await logAfter(from, "cannot read the crontab; the previous schedule keeps running")).toMatchObject({
      level: 50,
      file,
      cause: "EISDIR: illegal operation on a directory",
      lines: 1,
    });
    expect(identifiers()).toEqual(["kept"]);

    // A symlink to itself (running as root, chmod 000 would not stop a read).
    from = running.logs.lines.length;
    await rm(file, { recursive: true });
    await symlink(path.basename(file), file);
    expect(await logAfter(from, "cannot read the crontab; the previous schedule keeps running")).toMatchObject({
      file,
      cause: expect.stringMatching(/^ELOOP: /),
    });
    expect(identifiers()).toEqual(["kept"]);

    // Deleted: a warning, not an empty schedule.
    from = running.logs.lines.length;
    await rm(file);
    expect(
      await logAfter(from, "crontab file is gone; the previous schedule keeps running until it reappears (an empty file clears all schedules)"),
    ).toMatchObject({ level: 40, file, lines: 1 });
    expect(identifiers()).toEqual(["kept"]);
    expect(await running.daemon.crontab.reload()).toBe(false);

    // Back with the same text: nothing to reload, and the log says it is readable again.
    from = running.logs.lines.length;
    await writeFile(file, `0 * * * * tick ?id=kept {label: "kept"}\n`);
    await logAfter(from, "crontab file is readable again; its schedule is unchanged");
    expect(identifiers()).toEqual(["kept"]);

    // An empty file is how to clear every schedule.
    await writeFile(file, "");
    await waitFor("the empty file to clear the schedule", () => identifiers().length === 0);
  });

  it("at start-up is one line naming the file and the cause, exit 2", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-crontab-dir-"));
    onFileCleanup(() => rm(dir, { recursive: true }));
    const stderr = expectUserError(
      await runCli(["run"], { databaseUrl: db.url, env: { PGMILL_CRONTAB: dir, PGMILL_HTTP_PORT: "0" } }),
    );
    expect(stderr).toBe(`pgmill: cannot read crontab ${dir}: EISDIR: illegal operation on a directory (PGMILL_CRONTAB)\n`);
  }, SLOW_CLI_TIMEOUT);
});
