import type { Db } from "../../src/db/database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { isReady, type ClusterDaemon } from "./cluster.js";

/** Measures past the bound, so the report shows how far off a miss was. */
const MEASURE_BEYOND_MS = 30_000;

/** The daemon's row in pgmill.daemons (its latest registration). */
export async function daemonRow(db: Db, daemon: ClusterDaemon) {
  return db
    .selectFrom("pgmill.daemons")
    .select(["id", "worker_ids", "state", "reaped_by"])
    .where("pid", "=", daemon.process.child.pid!)
    .orderBy("started_at", "desc")
    .executeTakeFirstOrThrow();
}

/**
 * Milliseconds from `from` until every daemon answers /readyz 200 and has
 * finished an attempt that started after `from`: it is back at work, not just
 * up. null when that did not happen within `boundMs` plus a margin.
 */
export async function timeToResume(db: Db, daemons: readonly ClusterDaemon[], from: number, boundMs: number): Promise<number | null> {
  const ids = await Promise.all(daemons.map(async (d) => (await daemonRow(db, d)).id));
  const resumed = new Set<string>();
  try {
    await waitFor(
      "every daemon to be ready and at work",
      async () => {
        for (const [i, daemon] of daemons.entries()) {
          const id = ids[i]!;
          if (resumed.has(id)) continue;
          if (!(await isReady(daemon))) continue;
          const worked = await db
            .selectFrom("pgmill.job_runs")
            .select("job_id")
            .where("daemon_id", "=", id)
            .where("status", "=", "succeeded")
            .where("started_at", ">", new Date(from))
            .executeTakeFirst();
          if (worked) resumed.add(id);
        }
        return resumed.size === daemons.length;
      },
      boundMs + MEASURE_BEYOND_MS,
      100,
    );
    return Date.now() - from;
  } catch {
    return null;
  }
}
