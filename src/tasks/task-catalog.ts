import { PgmillProblemsError } from "../errors.js";
import { isTask, type AnyTask } from "./define-task.js";
import { builtInTasks } from "./index.js";
import { loadTaskDirectory, type SourcedTask } from "./task-directory.js";

/** Every task a daemon or command knows, by name. */
export type TaskCatalog = Readonly<Record<string, AnyTask>>;

export interface TaskSources {
  /** PGMILL_TASKS / --tasks: a directory of task files. */
  readonly tasksDir: string | null;
  /** Tasks handed over in code (`runDaemon({ tasks })`). */
  readonly tasks?: readonly unknown[];
}

/**
 * The built-in tasks plus the user's, checked together: every problem (a bad
 * file, a value that is not a task, a name used twice, a built-in's name
 * included) is reported in one error, each naming where it came from.
 */
export async function loadTasks(sources: TaskSources): Promise<TaskCatalog> {
  const sourced: SourcedTask[] = Object.values(builtInTasks).map((task) => ({ task, source: "built-in" }));
  const problems: string[] = [];
  (sources.tasks ?? []).forEach((task, i) => {
    if (isTask(task)) sourced.push({ task, source: `tasks[${i}]` });
    else problems.push(`tasks[${i}]: not a task (make it with defineTask from "pgmill")`);
  });
  if (sources.tasksDir !== null) {
    const directory = await loadTaskDirectory(sources.tasksDir);
    sourced.push(...directory.tasks);
    problems.push(...directory.problems);
  }
  const byName = new Map<string, SourcedTask>();
  for (const entry of sourced) {
    const first = byName.get(entry.task.name);
    if (!first) byName.set(entry.task.name, entry);
    else {
      const other = first.source === "built-in" ? "a built-in task" : `also defined in ${first.source}`;
      problems.push(`${entry.source}: task '${entry.task.name}' is ${other}; task names must be unique`);
    }
  }
  if (problems.length) throw new PgmillProblemsError("PGMILL_INVALID_TASKS", "Invalid tasks:", problems);
  return Object.freeze(Object.fromEntries([...byName].map(([name, entry]) => [name, entry.task])));
}
