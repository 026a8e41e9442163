import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, type JobInfo } from "../../src/index.js";
import { taskRegistry } from "../../src/tasks/define-task.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startTestDaemon } from "../support/test-daemon.js";
import { waitFor } from "../support/wait-for.js";

const fired: NonNullable<JobInfo["cron"]>[] = [];
const tasks = taskRegistry(
  defineTask({
    name: "report",
    payload: z.object({}),
    handler: async (_payload, { job }) => void (job.cron && fired.push(job.cron)),
  }),
);
const crontab = `* * * * * report ?id=minutely-report&fill=1h\n`;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});

describe("backfill after downtime (?fill)", () => {
  it("enqueues the minutes missed while no daemon ran, marked as backfilled", async () => {
    // A first daemon registers the line, then goes away before the next minute.
    const first = await startTestDaemon(db, tasks, { crontab });
    await first.daemon.shutdown();
    const downSince = Date.now();
    const missedMinute = Math.ceil(downSince / 60_000) * 60_000;
    await new Promise((resolve) => setTimeout(resolve, missedMinute - Date.now() + 1_500));

    // The next daemon backfills the minute nobody was there for.
    await startTestDaemon(db, tasks, { crontab });
    const backfilled = await waitFor("the missed minute to be backfilled", () =>
      fired.find((c) => Date.parse(c.ts) === missedMinute),
    );
    expect(backfilled.backfilled).toBe(true);
  }, 90_000);
});
