// A process with pgmill's engine-rejection guard in place that leaves one
// promise rejected and unhandled, with the message given as its argument.
import { pino } from "pino";
import { absorbEngineRejections } from "../../src/engine/engine-rejections.js";

absorbEngineRejections(pino());
void Promise.reject(new Error(process.argv[2] ?? "no message"));
setTimeout(() => process.stdout.write(JSON.stringify({ msg: "still running" }) + "\n"), 300);
