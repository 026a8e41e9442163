import { Command } from "commander";
import { beforeAll, describe, expect, it } from "vitest";
import { pauseParents, registerPause } from "../../src/cli/commands/pause.js";
import { addJobWithSql, jobInEngine } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { expectJson, expectSuccess, expectUserError, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";

let db: TestDatabase;
const pgmill = (...args: string[]) => runCli(args, { databaseUrl: db.url });

beforeAll(async () => {
  db = await createTestDatabase();
});

describe("pgmill pause task / resume task", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("pauses through pgmill.pause_task (holding queued jobs), says when nothing changed, and resumes", async () => {
    const id = await addJobWithSql(db.handle.db, "log-message", { message: "waits" });
    expect(expectJson(await pgmill("pause", "task", "log-message", "--json"))).toEqual({ task: "log-message", paused: true, changed: true });
    expect((await jobInEngine(db.handle.db, id))?.run_at).toBe(Infinity);
    expect(expectSuccess(await pgmill("pause", "task", "log-message"))).toBe("task: log-message\npaused: true\nchanged: false\nnote: already paused\n");

    const status = expectJson<{ paused: { task: string; held_jobs: number }[] }>(await pgmill("status", "--json"));
    expect(status.paused).toEqual([expect.objectContaining({ task: "log-message", held_jobs: 1 })]);

    expect(expectJson(await pgmill("resume", "task", "log-message", "--json"))).toEqual({ task: "log-message", running: true, changed: true });
    expect((await jobInEngine(db.handle.db, id))?.run_at).toBeInstanceOf(Date);
    expect(expectJson(await pgmill("resume", "task", "log-message", "--json"))).toMatchObject({ changed: false, note: "already running" });
  });

  it("refuses a missing or empty task name", async () => {
    expect(expectUserError(await pgmill("pause", "task"))).toMatch(/missing required argument 'task'/);
    expect(expectUserError(await pgmill("resume", "task", " "))).toMatch(/resume task: <task>: a task name is required/);
  });
});

describe("the pause and resume parents", () => {
  it("are shared: another control adds its subcommand beside `task`", () => {
    const program = new Command("pgmill");
    registerPause(program);
    const { pause, resume } = pauseParents(program);
    pause.command("cron").argument("<id>");
    resume.command("cron").argument("<id>");
    expect(program.commands.filter((c) => c.name() === "pause")).toHaveLength(1);
    expect(pause.commands.map((c) => c.name())).toEqual(["task", "cron"]);
    expect(resume.commands.map((c) => c.name())).toEqual(["task", "cron"]);
  });
});
