import { describe, expect, it } from "vitest";
import { expectUserError, runCli, SLOW_CLI_TIMEOUT } from "./run-cli.js";

// Bad flags and bad settings, through the real CLI: one message, exit 2, every
// problem named by its flag or variable. None of these reach a database.

/** The problem lines of a `pgmill: Heading:` report. */
function problemLines(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((line) => line.startsWith("  "))
    .map((line) => line.trim());
}

const BAD_ENV = { PGMILL_CONCURRENCY: "lots", PGMILL_HTTP_PORT: "99999", PGMILL_HISTORY_PAYLOAD: "all" };
const BAD_ENV_PROBLEMS = [
  'PGMILL_CONCURRENCY (--concurrency): expected a number (got "lots")',
  'PGMILL_HTTP_PORT (--http-port): Too big: expected number to be <=65535 (got "99999")',
  expect.stringMatching(/^PGMILL_HISTORY_PAYLOAD: .*"stored".* \(got "all"\)$/),
];

describe("bad flags and settings are reported together", { timeout: SLOW_CLI_TIMEOUT }, () => {
  it("run: bad variables and bad flag values, all in one message", async () => {
    const stderr = expectUserError(
      await runCli(["run", "--log-level", "loud", "--shutdown-timeout", "-1"], { env: { ...BAD_ENV, DATABASE_URL: "mysql://u:secret@db/x" } }),
    );
    expect(stderr.split("\n")[0]).toBe("pgmill: Invalid configuration:");
    expect(problemLines(stderr)).toEqual([
      "DATABASE_URL (--database-url): expected a postgres:// or postgresql:// connection string",
      'PGMILL_CONCURRENCY (--concurrency): expected a number (got "lots")',
      'PGMILL_HTTP_PORT (--http-port): Too big: expected number to be <=65535 (got "99999")',
      'PGMILL_SHUTDOWN_TIMEOUT (--shutdown-timeout): Too small: expected number to be >=0 (got "-1")',
      expect.stringMatching(/^PGMILL_HISTORY_PAYLOAD: .* \(got "all"\)$/),
      expect.stringMatching(/^LOG_LEVEL \(--log-level\): .* \(got "loud"\)$/),
    ]);
    expect(stderr).not.toContain("secret");
  });

  it("run: an unknown flag is listed with the bad variables, not instead of them", async () => {
    const stderr = expectUserError(await runCli(["run", "--concurency", "4"], { env: BAD_ENV }));
    expect(stderr.split("\n")[0]).toBe("pgmill: Invalid arguments and settings:");
    expect(problemLines(stderr)).toEqual([
      "unknown option '--concurency' (Did you mean --concurrency?)",
      ...BAD_ENV_PROBLEMS,
    ]);
    expect(stderr).toContain("(add --help for usage)");
  });

  it("run: a flag without its value, with a bad variable", async () => {
    const stderr = expectUserError(await runCli(["run", "--http-port"], { env: { PGMILL_CONCURRENCY: "0" } }));
    expect(problemLines(stderr)).toEqual([
      "option '--http-port <port>' argument missing",
      'PGMILL_CONCURRENCY (--concurrency): Too small: expected number to be >=1 (got "0")',
    ]);
  });

  it("an unknown flag with good settings is one line", async () => {
    const stderr = expectUserError(await runCli(["status", "--jsn"]));
    expect(stderr).toBe("pgmill: unknown option '--jsn' (Did you mean --json?)\n(add --help for usage)\n");
  });

  it("dlq list: a bad --limit and bad variables together", async () => {
    const stderr = expectUserError(await runCli(["dlq", "list", "--limit", "0"], { env: BAD_ENV }));
    expect(stderr.split("\n")[0]).toBe("pgmill: Invalid arguments and settings:");
    expect(problemLines(stderr)).toEqual([
      "--limit: Too small: expected number to be >=1",
      ...BAD_ENV_PROBLEMS,
    ]);
  });

  it("history: every bad flag and a bad --database-url together", async () => {
    const stderr = expectUserError(
      await runCli(["history", "--limit", "x", "--since", "soon", "--database-url", "mysql://db/x"]),
    );
    expect(problemLines(stderr)).toEqual([
      "--since: expected a duration such as 90s, 15m, 12h, 30d or 2w",
      "--limit: expected a number",
      "DATABASE_URL (--database-url): expected a postgres:// or postgresql:// connection string",
    ]);
  });

  it("cron check: a bad --count and the bad crontab setting together", async () => {
    const stderr = expectUserError(await runCli(["cron", "check", "--count", "0"], { env: { PGMILL_DEAD_AFTER: "x" } }));
    expect(problemLines(stderr)).toEqual(["--count: Too small: expected number to be >=1", 'PGMILL_DEAD_AFTER: expected a number (got "x")']);
  });
});
