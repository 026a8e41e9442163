// Imported first by index.ts, so a library user on an old Node gets this
// error before any module that needs the newer Node is evaluated.
import { nodeTooOld, REQUIRED_NODE } from "./node-version.js";

const tooOld = nodeTooOld(process.versions.node, REQUIRED_NODE);
if (tooOld) throw new Error(`pgmill ${tooOld}; install Node 24 LTS`);
