import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { runCommand, type CommandResult } from "../support/run-command.js";

/** The project root: the CLI runs from source there, with tsx. */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * A DATABASE_URL nothing listens on: commands that must not touch a database
 * (help, cron check) fail fast with it instead of starting embedded Postgres.
 */
export const UNREACHABLE_DATABASE_URL = "postgres://pgmill-cli-test@127.0.0.1:1/unreachable";

/**
 * Per-test timeout for tests that spawn the CLI: each spawn boots Node and tsx
 * (about a second and a half on an idle machine, several when test files run
 * in parallel on few cores), and some tests spawn it four or five times.
 */
export const SLOW_CLI_TIMEOUT = 120_000;

export type CliResult = CommandResult;

export interface RunCliOptions {
  /** DATABASE_URL for the child process. */
  readonly databaseUrl?: string;
  /** More variables for the child; `undefined` removes one. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs?: number;
}

/**
 * Runs `pgmill ...args` as a real child process. PGMILL_* variables of this
 * process are not passed on, so each test states the settings it relies on.
 */
export async function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("PGMILL_")) env[name] = value;
  }
  env.LOG_LEVEL = "warn";
  env.DATABASE_URL = options.databaseUrl ?? UNREACHABLE_DATABASE_URL;
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return runCommand(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: PROJECT_ROOT,
    env,
    timeoutMs: options.timeoutMs,
  });
}

/** Asserts the command succeeded and returns its stdout. */
export function expectSuccess(result: CliResult): string {
  expect(result.code, `exit code; stderr:\n${result.stderr}`).toBe(0);
  return result.stdout;
}

/** Asserts the command succeeded and printed valid JSON; returns it. */
export function expectJson<T = unknown>(result: CliResult): T {
  const stdout = expectSuccess(result);
  try {
    return JSON.parse(stdout) as T;
  } catch (error) {
    throw new Error(`stdout is not valid JSON: ${(error as Error).message}\n${stdout}`, { cause: error });
  }
}

/**
 * Asserts a user error: exit code 2, nothing on stdout, one `pgmill: ...`
 * message without a stack trace. Returns stderr.
 */
export function expectUserError(result: CliResult): string {
  expect(result.code, `exit code; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(2);
  expect(result.stdout).toBe("");
  expect(result.stderr).toMatch(/^pgmill: /);
  expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  return result.stderr;
}

export interface Table {
  readonly header: string[];
  readonly rows: Record<string, string>[];
}

/**
 * Parses the CLI's aligned table: a header row, a row of dashes under each
 * column, then one line per row. Columns are cut where the dashes start, so
 * empty cells are kept.
 */
export function parseTable(text: string): Table {
  const [headerLine, dashes, ...body] = text.replace(/\n$/, "").split("\n");
  if (headerLine === undefined || dashes === undefined || !/^-+( {2}-+)*$/.test(dashes)) {
    throw new Error(`not a table:\n${text}`);
  }
  const starts = [...dashes.matchAll(/-+/g)].map((match) => match.index);
  const cut = (line: string) => starts.map((start, i) => line.slice(start, starts[i + 1]).trim());
  const header = cut(headerLine);
  return { header, rows: body.map((line) => Object.fromEntries(cut(line).map((value, i) => [header[i]!, value]))) };
}
