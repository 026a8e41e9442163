#!/usr/bin/env node
import { CommanderError } from "commander";
import { PgmillError } from "../errors.js";
import { buildProgram } from "./program.js";

// Exit codes: 0 success, 2 a usage or input error the user can fix, 1 anything else.
try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // commander has already printed its message (or the help / version asked for).
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof PgmillError) {
    process.stderr.write(`pgmill: ${error.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`pgmill: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}
