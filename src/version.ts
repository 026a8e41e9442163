import { createRequire } from "node:module";

/** pgmill's version, from package.json (two levels up from src/ and from dist/). */
export const VERSION: string = (createRequire(import.meta.url)("../package.json") as { version: string }).version;
