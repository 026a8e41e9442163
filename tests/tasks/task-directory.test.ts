import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, ROOT } from "../support/built-dist.js";
import { runCommand } from "../support/run-command.js";

// Task directories as users write them, loaded by the built CLI on real Node
// (type stripping, Node's own errors), through `pgmill cron check --tasks`,
// which needs no database. The directories sit inside the project, so
// `import ... from "pgmill"` resolves as it does in a user's project.

const TMP = path.join(ROOT, "tests/.tmp");
/** Each check starts Node and imports a directory: seconds on an idle machine, many more while other test files run. */
const SLOW_TEST_MS = 120_000;
const made: string[] = [];

afterAll(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function taskDirectory(files: Record<string, string>): Promise<string> {
  await mkdir(TMP, { recursive: true });
  const dir = await mkdtemp(path.join(TMP, "tasks-"));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return dir;
}

function cronCheck(args: string[]) {
  return runCommand(process.execPath, [BIN, "cron", "check", ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" } });
}

const remind = `import { z } from "zod";
import { defineTask } from "pgmill";
import { greeting } from "./lib/greeting.ts";

interface Person { name: string }
const who = (p: Person): string => greeting(p.name);

export default defineTask({
  name: "remind",
  payload: z.object({ name: z.string().min(1), every: z.number().int().positive() }),
  handler: async (payload, { logger }) => { logger.info(who(payload)); },
});
`;

const plainTask = (name: string) => `import { z } from "zod";
import { defineTask } from "pgmill";
export default defineTask({ name: ${JSON.stringify(name)}, payload: z.object({}), handler: async () => {} });
`;

describe("pgmill --tasks DIR", () => {
  it("loads .ts, .mts, .js and .mjs task files with no build step, and knows their payloads", async () => {
    const dir = await taskDirectory({
      "remind.ts": remind,
      "lib/greeting.ts": "export const greeting = (name: string): string => `hello ${name}`;\n",
      "tidy.mts": plainTask("tidy"),
      "report.js": plainTask("report"),
      "archive.mjs": plainTask("archive"),
      "types.d.ts": "export type Nothing = never;\n",
      "README.md": "not a task\n",
    });
    const crontab = path.join(dir, "..", `${path.basename(dir)}.crontab`);
    made.push(crontab);
    await writeFile(
      crontab,
      ["0 9 * * * remind ?id=morning {name: 'Ada', every: 1}", "*/5 * * * * tidy", "0 0 * * 0 report", "0 1 * * * archive", ""].join("\n"),
    );
    const ok = await cronCheck(["--tasks", dir, "--json", crontab]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { task: string }[]).map((line) => line.task)).toEqual(["remind", "tidy", "report", "archive"]);

    // Without --tasks the same crontab names tasks nobody knows.
    const without = await cronCheck(["--json", crontab]);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain("unknown task 'remind'");

    // The user's schema checks crontab payloads, naming the line and the field.
    await writeFile(crontab, "0 9 * * * remind ?id=morning {name: 'Ada', every: 0}\n");
    const invalid = await cronCheck(["--tasks", dir, crontab]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/crontab:1: .*every/);
  }, SLOW_TEST_MS);

  it("reports every bad file at once, each by name (and line where Node gives one), and exits 2", async () => {
    const dir = await taskDirectory({
      "good.ts": plainTask("good"),
      "no-default.ts": 'export const task = "nothing to see";\n',
      "number.js": "export default 42;\n",
      "undecorated.mjs": 'export default { name: "raw", payload: {}, handler: async () => {} };\n',
      "twin-a.ts": plainTask("twin"),
      "twin-b.mts": plainTask("twin"),
      "http.ts": plainTask("http"),
      "syntax.mjs": 'import { defineTask } from "pgmill";\nexport default {\n  name: "x",\n  oops: }\n',
      "bad-types.ts": "const n: number = 1;\nlet broken: = 2;\nexport default n;\n",
      "missing-import.ts": 'import "no-such-package-for-pgmill";\nexport default 1;\n',
      "bad-name.ts": 'import { z } from "zod";\nimport { defineTask } from "pgmill";\n\nexport default defineTask({ name: "has space", payload: z.object({}), handler: async () => {} });\n',
    });
    const shown = path.relative(ROOT, dir);
    const { code, stderr } = await cronCheck(["--tasks", dir, "/dev/null"]);
    expect(code).toBe(2);
    const problems = stderr.split("\n").filter((line) => line.startsWith("  "));
    const about = (file: string) => problems.filter((line) => line.startsWith(`  ${shown}/${file}`));
    expect(stderr).toMatch(/^pgmill: Invalid tasks:/);
    expect(about("no-default.ts")).toEqual([expect.stringContaining("no default export")]);
    expect(about("number.js")).toEqual([expect.stringContaining("the default export is not a task (got number 42")]);
    expect(about("undecorated.mjs")).toEqual([expect.stringContaining("not made with defineTask")]);
    expect(about("twin-b.mts")).toEqual([expect.stringContaining(`task 'twin' is also defined in ${shown}/twin-a.ts`)]);
    expect(about("http.ts")).toEqual([expect.stringContaining("task 'http' is a built-in task")]);
    expect(about("syntax.mjs")).toEqual([expect.stringMatching(/syntax\.mjs:4: syntax error: Unexpected token/)]);
    expect(about("bad-types.ts")).toEqual([expect.stringMatching(/bad-types\.ts:2: .*Unexpected token/)]);
    expect(about("missing-import.ts")).toEqual([expect.stringContaining("Cannot find package 'no-such-package-for-pgmill'")]);
    expect(about("bad-name.ts")).toEqual([expect.stringMatching(/bad-name\.ts:4: TypeError: task has space: name must be/)]);
    expect(about("good.ts")).toEqual([]);
    expect(problems).toHaveLength(9);
  }, SLOW_TEST_MS);

  it("names a tasks directory that is missing or holds no task files", async () => {
    const empty = await taskDirectory({ "notes.txt": "nothing\n", "lib/helper.ts": "export {};\n" });
    const none = await cronCheck(["--tasks", empty, "/dev/null"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`${path.relative(ROOT, empty)}: no task files (.ts, .mts, .js, .mjs) in the tasks directory`);

    const missing = await cronCheck(["--tasks", path.join(empty, "nope"), "/dev/null"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("nope: cannot read the tasks directory (ENOENT)");
  }, SLOW_TEST_MS);
});
