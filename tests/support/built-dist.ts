import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The project root, whose dist/ the tests that run the built package use. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The built CLI, as `npm install pgmill` ships it. */
export const BIN = path.join(ROOT, "dist/cli/bin.js");

/**
 * Brings dist/ up to date with src/ (an incremental build: about a second
 * when nothing changed). Run once, from the global setup, so test files never
 * build it side by side.
 */
export function buildDist(): void {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  let output = "";
  try {
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: ROOT, encoding: "utf8" });
  } catch (error) {
    // tsc still emits on type errors, which are `npm run typecheck`'s to report.
    output = String((error as { stdout?: string }).stdout ?? error);
  }
  if (!existsSync(BIN)) throw new Error(`tsc -p tsconfig.build.json did not build ${BIN}:\n${output}`);
}
