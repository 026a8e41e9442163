#!/usr/bin/env node
import { CommanderError } from "commander";
import { loadConfig } from "../config/config.js";
import { PgmillError, PgmillProblemsError } from "../errors.js";
import { buildProgram } from "./program.js";

// Exit codes: 0 success, 2 a usage or input error the user can fix (a bad flag or
// setting, a port in use, no database to use), 1 anything else.
const usage: string[] = [];
try {
  await buildProgram({ write: (text) => usage.push(text) }).parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and --version exit 0 here; anything else is a usage error. A command
    // given without its subcommand (`pgmill dlq`) gets its help, as printed.
    if (error.code === "commander.help" && error.exitCode !== 0) process.stderr.write(usage.join(""));
    else if (error.exitCode !== 0) process.stderr.write(usageReport(usage.join("")));
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof PgmillError) {
    process.stderr.write(`pgmill: ${error.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`pgmill: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}

/**
 * commander stops at the first bad flag; the settings in the environment are
 * checked too, so one message lists every problem.
 */
function usageReport(commanderText: string): string {
  const [message = "", ...hint] = commanderText.trim().split("\n(add --help");
  const problem = message.replace(/^error: /, "").replaceAll(/\s*\n\s*/g, " ");
  const hintLine = hint.length ? `(add --help${hint.join("")}\n` : "";
  let settings: readonly string[] = [];
  try {
    loadConfig();
  } catch (error) {
    if (!(error instanceof PgmillProblemsError)) throw error;
    settings = error.problems;
  }
  if (!settings.length) return `pgmill: ${problem}\n${hintLine}`;
  return `pgmill: Invalid arguments and settings:\n${[problem, ...settings].map((p) => `  ${p}`).join("\n")}\n${hintLine}`;
}
