import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { isTask, type AnyTask } from "./define-task.js";

/** Files that hold tasks; TypeScript loads through Node's type stripping, with no build step. */
export const TASK_FILE_EXTENSIONS: readonly string[] = [".ts", ".mts", ".js", ".mjs"];

/** A task and where it came from, for messages. */
export interface SourcedTask {
  readonly task: AnyTask;
  readonly source: string;
}

/** The tasks that loaded and the problems of the files that did not: both, so names can be checked across all. */
export interface TaskDirectoryResult {
  readonly tasks: readonly SourcedTask[];
  readonly problems: readonly string[];
}

/**
 * Imports every task file directly in `dir` (helpers belong in subfolders,
 * which are not read). Each must default-export one task made with
 * `defineTask`. Every file is tried, so all problems come back together,
 * each naming its file (and line, where Node says one).
 */
export async function loadTaskDirectory(dir: string): Promise<TaskDirectoryResult> {
  const shown = displayPath(dir);
  let names: string[];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => !e.isDirectory() && isTaskFile(e.name)).map((e) => e.name).sort();
  } catch (error) {
    return { tasks: [], problems: [`${shown}: cannot read the tasks directory (${(error as NodeJS.ErrnoException).code ?? String(error)})`] };
  }
  if (names.length === 0) {
    return { tasks: [], problems: [`${shown}: no task files (${TASK_FILE_EXTENSIONS.join(", ")}) in the tasks directory`] };
  }
  const loaded = await Promise.all(names.map((name) => loadTaskFile(path.join(dir, name))));
  return {
    tasks: loaded.flatMap((result) => ("task" in result ? [result] : [])),
    problems: loaded.flatMap((result) => ("problem" in result ? [result.problem] : [])),
  };
}

function isTaskFile(name: string): boolean {
  if (name.startsWith(".") || /\.d\.m?ts$/.test(name)) return false;
  return TASK_FILE_EXTENSIONS.includes(path.extname(name));
}

async function loadTaskFile(file: string): Promise<SourcedTask | { problem: string }> {
  const shown = displayPath(file);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    return { problem: `${await withLine(shown, file, error)}: ${describeImportError(error)}` };
  }
  if (!("default" in module) || module.default === undefined) {
    return { problem: `${shown}: no default export (expected \`export default defineTask({ ... })\`)` };
  }
  const exported = module.default;
  if (!isTask(exported)) {
    const looksLikeOne = typeof exported === "object" && exported !== null && "handler" in exported;
    return {
      problem: looksLikeOne
        ? `${shown}: the default export is not made with defineTask (wrap it: \`export default defineTask({ ... })\`, defineTask from "pgmill")`
        : `${shown}: the default export is not a task (got ${describeValue(exported)}; expected \`export default defineTask({ ... })\`)`,
    };
  }
  return { task: exported, source: shown };
}

/** `file:line` when Node knows where it failed. */
async function withLine(shown: string, file: string, error: unknown): Promise<string> {
  const line = lineInStack(file, error) ?? (error instanceof SyntaxError ? await syntaxErrorLine(file) : null);
  return line ? `${shown}:${line}` : shown;
}

function lineInStack(file: string, error: unknown): string | null {
  const stack = error instanceof Error ? String(error.stack) : "";
  for (const where of [pathToFileURL(file).href, file]) {
    const at = stack.indexOf(`${where}:`);
    if (at >= 0) return /^:(\d+)/.exec(stack.slice(at + where.length))?.[1] ?? null;
  }
  return null;
}

/** Node's module SyntaxError has no location; `node --check` prints it as `file:line`. */
async function syntaxErrorLine(file: string): Promise<string | null> {
  const output = await promisify(execFile)(process.execPath, ["--check", file], { timeout: 10_000 }).then(
    () => "",
    (error: { stderr?: string }) => error.stderr ?? "",
  );
  const firstLine = output.split("\n")[0] ?? "";
  return firstLine.startsWith(`${file}:`) ? (/:(\d+)$/.exec(firstLine)?.[1] ?? null) : null;
}

function describeImportError(error: unknown): string {
  if (!(error instanceof Error)) return `failed to load: ${String(error)}`;
  const kind = error instanceof SyntaxError ? "syntax error" : error.name === "Error" ? "failed to load" : error.name;
  return `${kind}: ${error.message.split("\n")[0]}`;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

/** Relative to the working directory when under it, as a user typed it. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith("..") && !path.isAbsolute(relative) ? relative : file;
}
