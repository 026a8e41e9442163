// `pgmill run --tasks tests/support/tasks`: the real CLI with one more task,
// `stuck`, loaded from a tasks directory as a user's would be.
import { fileURLToPath } from "node:url";

process.argv.push("run", "--tasks", fileURLToPath(new URL("./tasks", import.meta.url)));
await import("../../src/cli/main.js");
