import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, runDaemon } from "../../src/index.js";
import { onFileCleanup } from "../support/file-cleanup.js";
import { captureLogs } from "../support/log-capture.js";
import { addJobsAtOnce } from "../support/sql-jobs.js";
import { createTestDatabase } from "../support/test-database.js";
import { waitFor } from "../support/wait-for.js";

// Limits through the library entry point, with a task of the application's:
// the same check as for a tasks directory and the built-ins.

const one = defineTask({
  name: "one-at-a-time",
  payload: z.object({}),
  concurrency: 1,
  rateLimit: { max: 5, per: "1s" },
  handler: () => new Promise<void>((resolve) => setTimeout(resolve, 50)),
});

describe("runDaemon with a limited task", () => {
  it("holds the task's limits", async () => {
    const db = await createTestDatabase();
    const dir = await mkdtemp(path.join(os.tmpdir(), "pgmill-limits-"));
    const crontab = path.join(dir, "crontab");
    await writeFile(crontab, "");
    const daemon = await runDaemon({ databaseUrl: db.url, crontab, tasks: [one], concurrency: 8, logger: captureLogs().logger });
    onFileCleanup(() => daemon.stop());
    await addJobsAtOnce(db.handle.db, "one-at-a-time", 8);
    await waitFor("the jobs to succeed", async () => {
      const done = await db.handle.db.selectFrom("pgmill.job_runs").select("id").where("status", "=", "succeeded").execute();
      return done.length === 8;
    }, 60_000, 100);
    const runs = await db.handle.db.selectFrom("pgmill.job_runs").selectAll().orderBy("started_at").execute();
    expect(runs.every((r) => r.attempt === 1)).toBe(true);
    // One at a time: each starts after the previous one finished.
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.started_at.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.finished_at.getTime());
    const perWindow = new Map<number, number>();
    for (const r of runs) perWindow.set(Math.floor(r.started_at.getTime() / 1000), (perWindow.get(Math.floor(r.started_at.getTime() / 1000)) ?? 0) + 1);
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(5);
  });
});
