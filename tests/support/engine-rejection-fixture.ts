// A process with pgmill's engine-rejection guard in place that leaves one
// promise rejected and unhandled, with the message given as its argument and,
// if a second argument is given, that as the top frame of its stack.
import { pino } from "pino";
import { absorbEngineRejections } from "../../src/engine/engine-rejections.js";

absorbEngineRejections(pino());
const error = new Error(process.argv[2] ?? "no message");
if (process.argv[3]) error.stack = `Error: ${error.message}\n    at ${process.argv[3]}`;
void Promise.reject(error);
setTimeout(() => process.stdout.write(JSON.stringify({ msg: "still running" }) + "\n"), 300);
