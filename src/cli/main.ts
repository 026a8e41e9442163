#!/usr/bin/env node
import { PgmillError } from "../errors.js";
import { buildProgram } from "./program.js";

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  // Errors users can fix get their message only; anything else keeps its stack.
  process.stderr.write(`pgmill: ${error instanceof PgmillError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = error instanceof PgmillError ? 2 : 1;
}
