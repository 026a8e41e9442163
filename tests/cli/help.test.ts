import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT, runCli, SLOW_CLI_TIMEOUT } from "./run-cli.js";

// None of these touch a database: runCli hands them an unreachable DATABASE_URL.

interface HelpCase {
  readonly command: readonly string[];
  /** Text the help must contain: arguments, options, subcommands. */
  readonly mentions: readonly string[];
}

const HELP: readonly HelpCase[] = [
  {
    command: [],
    mentions: ["run", "migrate", "add", "cron", "dlq", "history", "status", "pause", "resume", "dashboard", "--version", "--help"],
  },
  {
    command: ["run"],
    mentions: ["--database-url <url>", "--concurrency <n>", "--crontab <file>", "--http-port <port>", "--shutdown-timeout <seconds>", "--log-level <level>"],
  },
  { command: ["migrate"], mentions: ["--database-url <url>", "--json"] },
  {
    command: ["add"],
    mentions: ["<task>", "[json]", "--run-at <iso-time>", "--priority <n>", "--max-attempts <n>", "--key <job-key>", "--queue <name>", "--database-url <url>", "--json"],
  },
  { command: ["cron"], mentions: ["check"] },
  { command: ["cron", "check"], mentions: ["[file]", "--count <n>", 'default: "3"', "--json"] },
  { command: ["dlq"], mentions: ["list", "retry", "purge"] },
  { command: ["dlq", "list"], mentions: ["--task <name>", "--all", "--limit <n>", "--database-url <url>", "--json"] },
  { command: ["dlq", "retry"], mentions: ["[id]", "--all", "--task <name>", "--database-url <url>", "--json"] },
  { command: ["dlq", "purge"], mentions: ["--older-than <duration>", 'default: "30d"', "--database-url <url>", "--json"] },
  {
    command: ["history"],
    mentions: ["--task <name>", "--status <status>", "--since <duration>", "--job <id>", "--limit <n>", "--database-url <url>", "--json"],
  },
  { command: ["status"], mentions: ["--database-url <url>", "--json"] },
  { command: ["pause"], mentions: ["task"] },
  { command: ["pause", "task"], mentions: ["<task>", "--database-url <url>", "--json"] },
  { command: ["resume"], mentions: ["task"] },
  { command: ["resume", "task"], mentions: ["<task>", "--database-url <url>", "--json"] },
];

describe("--help", { timeout: SLOW_CLI_TIMEOUT }, () => {
  for (const { command, mentions } of HELP) {
    const name = ["pgmill", ...command].join(" ");
    it(`${name} --help prints usage and its options`, async () => {
      const result = await runCli([...command, "--help"]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe("");
      expect(result.stdout).toMatch(new RegExp(`^Usage: ${name.replaceAll(" ", "\\s+")}\\b`));
      expect(result.stdout).toMatch(/-h, --help/);
      for (const text of mentions) expect(result.stdout).toContain(text);
    });
  }

  it("`pgmill help` lists every command, run being the default", async () => {
    const { stdout, code } = await runCli(["help"]);
    expect(code).toBe(0);
    const commands = stdout.slice(stdout.indexOf("Commands:"));
    for (const command of ["run [options]", "migrate [options]", "add [options] <task> [json]", "cron", "dlq", "history [options]", "status [options]"]) {
      expect(commands).toContain(`  ${command} `);
    }
    expect(commands).toMatch(/\(the default\s+command\)/);
  });

  it("--version prints package.json's version", async () => {
    const { version } = JSON.parse(await readFile(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string };
    const result = await runCli(["--version"]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });
});
