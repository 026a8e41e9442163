import { createRequire } from "node:module";

// Loaded before the Node version is known to be good: keep it to syntax and
// APIs that old Node versions have.

/** The oldest Node pgmill runs on, from package.json's `engines.node` (">=X.Y"): the one place it is written. */
export const REQUIRED_NODE: string = requiredNode(
  (createRequire(import.meta.url)("../package.json") as { engines?: { node?: string } }).engines?.node,
);

/** "22.18" from ">=22.18"; any other form is a packaging mistake, caught by the tests. */
export function requiredNode(engines: string | undefined): string {
  const match = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec((engines ?? "").trim());
  if (!match) throw new Error(`package.json engines.node must read ">=X.Y", not ${JSON.stringify(engines)}`);
  return match[1]!;
}

/** Why Node `version` is older than `required` ("X.Y.Z", a leading v and suffixes ignored), or null if it is not. */
export function nodeTooOld(version: string, required: string): string | null {
  const have = numbers(version);
  const need = numbers(required);
  for (let i = 0; i < 3; i++) {
    if (have[i]! > need[i]!) return null;
    if (have[i]! < need[i]!) return `needs Node.js ${required} or newer (this is ${version})`;
  }
  return null;
}

function numbers(version: string): number[] {
  const parts = version.replace(/^v/, "").split(".");
  return [0, 1, 2].map((i) => Number.parseInt(parts[i] ?? "0", 10) || 0);
}
