import type { Db } from "../../db/database.js";
import type { TaskCatalog } from "../../tasks/task-catalog.js";

/** What pages read from: the database, and the crontab and tasks `pgmill status` would read. */
export interface PageDeps {
  readonly db: Db;
  readonly tasks: TaskCatalog;
  readonly crontabPath: string;
}
