import { sql } from "kysely";
import { waitFor } from "../../tests/support/wait-for.js";
import { Cluster } from "../lib/cluster.js";
import { auditJobs } from "../lib/job-audit.js";
import { scenarioDatabase, since, sleep, Teardown, type Scenario } from "../lib/scenario.js";
import { withEngineTables } from "../../src/engine/jobs-view.js";

const SIZES = { full: { ticks: 5 }, short: { ticks: 1 } };
const LINES = ["every-minute-a", "every-minute-b", "every-minute-c", "every-minute-d"];
const MINUTE_MS = 60_000;
/** After a tick, how long its jobs may take to be enqueued and run. */
const SETTLE_MS = 15_000;

/**
 * Three daemons with the same crontab of every-minute lines, across minute
 * boundaries: each line's tick is enqueued exactly once, whichever daemon
 * wins it (graphile-worker's known_crontabs).
 */
export const crontabOnce: Scenario = async (adminUrl, size) => {
  const { ticks } = SIZES[size];
  const started = Date.now();
  const teardown = new Teardown();
  try {
    const { url, db } = await scenarioDatabase(adminUrl, "crontab", teardown);
    const crontab = LINES.map((id) => `* * * * * log-message ?id=${id} {message: "${id}"}`).join("\n");
    const cluster = new Cluster(url, {}, crontab);
    teardown.add(() => cluster.stopAll());
    await cluster.start(3);

    // Every tick from the first boundary with all three daemons up is expected.
    const firstTick = Math.ceil(Date.now() / MINUTE_MS) * MINUTE_MS;
    const lastTick = firstTick + (ticks - 1) * MINUTE_MS;
    await sleep(lastTick + SETTLE_MS - Date.now());
    await waitFor(
      "the cron jobs to run",
      async () => !(await withEngineTables(db).selectFrom("graphile_worker.jobs").select("id").where("task_identifier", "=", "log-message").executeTakeFirst()),
      60_000,
      500,
    );

    const { rows } = await sql<{ job_id: string; line: string; tick: string }>`
      select distinct job_id::text, payload->>'message' as line, payload->'_cron'->>'ts' as tick
        from pgmill.job_runs where task = 'log-message'
    `.execute(db);
    const jobsPer = new Map<string, number>();
    for (const r of rows) {
      const key = `${r.line} @ ${new Date(r.tick).toISOString()}`;
      jobsPer.set(key, (jobsPer.get(key) ?? 0) + 1);
    }
    const expected = LINES.flatMap((line) =>
      Array.from({ length: ticks }, (_, i) => `${line} @ ${new Date(firstTick + i * MINUTE_MS).toISOString()}`),
    );
    const missing = expected.filter((key) => !jobsPer.has(key));
    const twice = [...jobsPer].filter(([, n]) => n > 1).map(([key, n]) => `${key} ×${n}`);
    const jobs = await auditJobs(db, [...new Set(rows.map((r) => r.job_id))], []);
    return {
      id: "crontab-once",
      title: "three daemons, one crontab of every-minute lines",
      size,
      durationMs: since(started),
      setup: `3 daemons with the same crontab of ${LINES.length} \`* * * * *\` lines, over ${ticks} minute boundar${ticks === 1 ? "y" : "ies"} (${expected.length} line-ticks expected)`,
      jobs,
      recoveries: [],
      checks: [
        { what: "every line's every tick enqueued", ok: missing.length === 0, detail: missing.length ? `missing: ${missing.join(", ")}` : `${expected.length} of ${expected.length}` },
        { what: "no tick enqueued twice", ok: twice.length === 0, detail: twice.length ? twice.join(", ") : `${jobsPer.size} line-ticks, one job each` },
        cluster.exitCheck(),
      ],
    };
  } finally {
    await teardown.run();
  }
};
