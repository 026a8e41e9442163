#!/usr/bin/env node
// The pgmill command. Its only static import is the version check: ESM loads
// every static import before any code runs, so on an old Node the app could
// fail with a stack trace before this check said what is wrong.
import { nodeTooOld, REQUIRED_NODE } from "../node-version.js";

const tooOld = nodeTooOld(process.versions.node, REQUIRED_NODE);
if (tooOld) {
  process.stderr.write(
    `pgmill: ${tooOld}; install Node 24 LTS, or in a pgmill checkout run it through npm (npm start / npm run pgmill), which uses the Node 24 from devDependencies\n`,
  );
  process.exitCode = 1;
} else {
  await import("./main.js");
}
