import { fmt, fmtRatio, medianRoundRatio, table } from "./lib/stats.js";
import type { DashboardSummary } from "./workloads/dashboard.js";
import type { DrainSummary } from "./workloads/drain.js";
import type { LatencySummary } from "./workloads/latency.js";
import type { LedgerGrowthSummary } from "./workloads/ledger-growth.js";
import type { ScalingSummary } from "./workloads/scaling.js";
import { LIMITED_ID, type LimitsSummary } from "./workloads/limits.js";
import type { BacklogSizeStep } from "./workloads/throughput.js";
import type { SystemId } from "./systems/types.js";

const PEERS: readonly SystemId[] = ["gw-tuned", "gw-default", "boss-job", "boss-batch"];

/** Everything one run measured: what bench/results/latest.json holds. */
export interface BenchResults {
  readonly meta: Record<string, unknown>;
  readonly systems: Record<string, { label: string; settings: string; retryNote: string; inProcess: boolean }>;
  backlog?: DrainSummary;
  latency?: LatencySummary;
  io?: DrainSummary;
  retry?: DrainSummary;
  scaling?: ScalingSummary;
  backlogSizes?: BacklogSizeStep[];
  ledger?: LedgerGrowthSummary;
  dashboard?: DashboardSummary;
  limits?: LimitsSummary;
  targets?: ReturnType<typeof targets>;
}

export interface Target {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | null;
}

/** pgmill's goals, each with what this run measured. `met` is null when the run did not measure it. */
export function targets(results: BenchResults): Target[] {
  const out: Target[] = [];
  const ratio = results.backlog?.pgmillRatio;
  const check = (target: string, value: number | undefined, ok: (v: number) => boolean, show: (v: number) => string) =>
    out.push({ target, measured: value === undefined ? "not measured" : show(value), met: value === undefined ? null : ok(value) });
  check("backlog throughput >= 0.9x graphile-worker tuned", ratio?.["gw-tuned"], (v) => v >= 0.9, fmtRatio);
  check("backlog throughput >= 6x graphile-worker defaults", ratio?.["gw-default"], (v) => v >= 6, fmtRatio);
  check("backlog throughput ahead of pg-boss per-job", ratio?.["boss-job"], (v) => v > 1, fmtRatio);
  const lat = results.latency?.bySystem.pgmill;
  check("enqueue-to-start p50 <= 5 ms at idle", lat?.p50, (v) => v <= 5, (v) => `${v.toFixed(1)} ms`);
  check("enqueue-to-start p99 <= 20 ms at idle", lat?.p99, (v) => v <= 20, (v) => `${v.toFixed(1)} ms`);
  const scaling = results.scaling;
  check("daemon peak RSS <= 200 MB (pgmill run process, VmHWM)", scaling?.byConfig.x1?.peakRssMb, (v) => v <= 200, (v) => `${v.toFixed(0)} MB`);
  check("throughput rises from 1 to 2 daemons", scaling?.speedup.x2, (v) => v > 1.05, fmtRatio);
  const sizes = results.backlogSizes;
  const [smallest, biggest] = [cpuMsPerJob(sizes?.[0]), cpuMsPerJob(sizes?.at(-1))];
  const costGrowth = sizes && sizes.length > 1 && smallest && biggest ? biggest / smallest : undefined;
  const span = sizes && sizes.length > 1 ? `${fmt(sizes[0]!.n)} to ${fmt(sizes.at(-1)!.n)}` : "small to large";
  check(`CPU cost per job flat from ${span} backlog (<= 1.25x)`, costGrowth, (v) => v <= 1.25, fmtRatio);
  check("ledger commit cost flat as history grows (<= 1.25x)", results.ledger?.growth, (v) => v <= 1.25, fmtRatio);
  const prune = results.ledger?.prune;
  // A daily retention run drops one partition; the benchmark drops several at once.
  const perPartition = prune && prune.partitionsDropped ? prune.retentionMs / prune.partitionsDropped : undefined;
  check("retention drops a day of history in milliseconds (< 1 s per partition)", perPartition, (v) => v < 1000, (v) => `${v.toFixed(0)} ms`);
  check(
    `every dashboard page under 300 ms with ${results.dashboard ? fmt(results.dashboard.historyRows) : "1M"} history rows (slowest median)`,
    results.dashboard?.slowestMs,
    (v) => v < 300,
    (v) => `${v.toFixed(0)} ms`,
  );
  return out;
}

export function printReport(results: BenchResults): void {
  const m = results.meta as { machine: { nproc: number; memoryGiB: number; cpuModel: string; node: string }; postgres: { version: string; source: string }; seconds?: number };
  console.log("");
  console.log(
    `pgmill benchmark: ${m.machine.nproc} cores (${m.machine.cpuModel}), ${m.machine.memoryGiB} GiB, Node ${m.machine.node}, ` +
      `Postgres ${m.postgres.version} (${m.postgres.source}), ${m.seconds ?? "?"} s`,
  );
  for (const line of reportTables(results)) console.log(line);
}

/** The report as text blocks (also pasted into bench/README.md). */
export function reportTables(results: BenchResults): string[] {
  const out: string[] = [];
  // pgmill first, then its variants in the order given, then the peers.
  const ids = Object.keys(results.systems) as SystemId[];
  const present = [...ids.filter((id) => id.startsWith("pgmill")), ...PEERS.filter((id) => results.systems[id])];
  const { backlog, io, retry, latency, scaling } = results;

  out.push("", "Throughput (jobs/s, median of rounds; retry: seconds to complete every job) and latency (enqueue to handler start)");
  out.push(
    table(
      [
        "system",
        backlog ? `backlog ${fmt(backlog.n)} no-op` : "backlog",
        io ? `${fmt(io.n)} x 5 ms I/O` : "I/O",
        retry ? `20% retry, ${fmt(retry.n)}: s` : "retry",
        "latency p50 ms",
        "p95 ms",
        "p99 ms",
        "peak RSS MB*",
      ],
      present.map((id) => {
        const l = latency?.bySystem[id];
        const rss = Math.max(backlog?.bySystem[id]?.peakRssMb ?? 0, io?.bySystem[id]?.peakRssMb ?? 0);
        return [
          id,
          fmt(backlog?.bySystem[id]?.jobsPerSec) + (backlog?.bySystem[id]?.partial ? " (partial)" : ""),
          fmt(io?.bySystem[id]?.jobsPerSec) + (io?.bySystem[id]?.partial ? " (partial)" : ""),
          fmt(retry?.bySystem[id]?.seconds, 2) + (retry?.bySystem[id]?.partial ? " (partial)" : ""),
          fmt(l?.p50, 1),
          fmt(l?.p95, 1),
          fmt(l?.p99, 1),
          rss ? fmt(rss) : "—",
        ];
      }),
    ),
  );
  out.push("* in-process runs: this process's peak RSS (harness and every library loaded included), an upper bound; see the process table for a daemon's own.");
  const partial = [backlog, io, retry].flatMap((w) => (w ? w.runs.filter((r) => r.partial) : []));
  for (const r of partial) {
    out.push(
      `(partial) ${r.system}, ${r.kind} round ${r.round}: cut off at the ${r.partial!.capSeconds} s drain cap with ${fmt(r.partial!.completed)} of ${fmt(r.n)} jobs done; the rate is over those.`,
    );
  }

  out.push("", "pgmill relative to each peer (median of per-round ratios, systems run side by side; > 1 means pgmill is faster)");
  out.push(
    table(
      ["peer", "backlog", "5 ms I/O", "20% retry (time)"],
      present
        .filter((id) => id !== "pgmill")
        .map((id) => [id, fmtRatio(backlog?.pgmillRatio[id]), fmtRatio(io?.pgmillRatio[id]), fmtRatio(retry?.pgmillRatio[id])]),
    ),
  );

  const variants = present.filter((id) => id.startsWith("pgmill["));
  if (variants.length && results.systems["gw-tuned"]) {
    out.push("", "pgmill at other settings against graphile-worker tuned (median of per-round ratios; > 1 means faster)");
    out.push(
      table(
        ["system", "backlog", "5 ms I/O"],
        ["pgmill" as SystemId, ...variants].map((id) => [id, fmtRatio(ratioToGwTuned(backlog, id)), fmtRatio(ratioToGwTuned(io, id))]),
      ),
    );
  }

  if (latency) {
    out.push("", `Latency detail: ${latency.rate} jobs/s for ${latency.seconds} s into an idle system, ${latency.rounds} rounds (local-queue counts: pgmill and graphile-worker tuned)`);
    out.push(
      table(
        ["system", "jobs", "p50 ms", "p95 ms", "p99 ms", "max ms", "fetches", "empty fetches", "refetch delays"],
        present.map((id) => {
          const l = latency.bySystem[id];
          const engine = latency.runs.filter((r) => r.system === id && r.engine).map((r) => r.engine!);
          const sum = (key: "fetches" | "emptyFetches" | "refetchDelays") => (engine.length ? engine.reduce((a, e) => a + e[key], 0) : undefined);
          return [id, fmt(l?.n), fmt(l?.p50, 1), fmt(l?.p95, 1), fmt(l?.p99, 1), fmt(l?.max, 1), fmt(sum("fetches")), fmt(sum("emptyFetches")), fmt(sum("refetchDelays"))];
        }),
      ),
    );
  }

  if (backlog) {
    out.push("", `Where the time went in the backlog drain (CPU of the median run; 100% = one core; the machine has ${(results.meta as { machine: { nproc: number } }).machine.nproc})`);
    out.push(
      table(
        ["system", "jobs/s (each round)", "start() ms", "machine busy", "postgres", "worker process", "WAL bytes/job"],
        present.map((id) => {
          const s = backlog.bySystem[id];
          return [
            id,
            s ? s.allJobsPerSec.map((x) => fmt(x)).join(", ") : "—",
            fmt(s?.startupMs),
            s?.machineBusyPct === null || s === undefined ? "—" : `${fmt(s.machineBusyPct)}%`,
            s?.postgresPct === null || s === undefined ? "—" : `${fmt(s.postgresPct)}%`,
            s?.workersPct === null || s === undefined ? "—" : `${fmt(s.workersPct)}%`,
            fmt(s?.walBytesPerJob),
          ];
        }),
      ),
    );
  }

  const ledgers = [
    ["backlog (no-op)", backlog?.bySystem.pgmill?.ledger],
    ["20% retry", retry?.bySystem.pgmill?.ledger],
    ["process x1 (log-message)", scaling?.runs.find((r) => r.label === "x1")?.ledger],
  ] as const;
  if (ledgers.some(([, l]) => l)) {
    out.push("", "pgmill ledger cost (pgmill.job_runs: every partition with indexes and TOAST)");
    out.push(
      table(
        ["run", "attempts", "rows written", "rows/attempt", "bytes/attempt", "group commits", "rows/commit", "ms/commit"],
        ledgers.flatMap(([name, l]) =>
          l
            ? [
                [
                  name,
                  fmt(l.attempts),
                  fmt(l.rows),
                  fmt(l.rowsPerAttempt, 2),
                  fmt(l.bytesPerAttempt),
                  fmt(l.batches?.batches),
                  fmt(l.batches?.rowsPerBatch, 1),
                  fmt(l.batches?.msPerBatch, 1),
                ],
              ]
            : [],
        ),
      ),
    );
  }

  if (scaling) {
    out.push("", `pgmill run processes on one database, ${fmt(scaling.n)} ${scaling.task} jobs inserted once all are running`);
    out.push(
      table(
        ["daemons", "jobs/s (median)", "each round", "vs x1", "idle RSS MB", "peak RSS MB (VmHWM)", "machine busy", "postgres", "daemons CPU"],
        Object.entries(scaling.byConfig).map(([label, s]) => [
          label,
          fmt(s.jobsPerSec),
          s.allJobsPerSec.map((x) => fmt(x)).join(", "),
          fmtRatio(scaling.speedup[label]),
          fmt(s.idleRssMb),
          fmt(s.peakRssMb),
          s.cpu.machineBusyPct === null ? "—" : `${fmt(s.cpu.machineBusyPct)}%`,
          s.cpu.postgresPct === null ? "—" : `${fmt(s.cpu.postgresPct)}%`,
          s.cpu.workersPct === null ? "—" : `${fmt(s.cpu.workersPct)}%`,
        ]),
      ),
    );
  }

  if (results.backlogSizes) {
    out.push("", "Backlog size: pgmill and graphile-worker tuned draining growing backlogs (one round each; CPU: the process running the jobs)");
    out.push(
      table(
        ["backlog", "pgmill jobs/s", "pgmill µs/job", "pgmill CPU ms/job", "gw-tuned jobs/s", "gw-tuned CPU ms/job", "pgmill / gw-tuned"],
        results.backlogSizes.map((step) => {
          const mine = step.summary.bySystem.pgmill;
          const theirs = step.summary.bySystem["gw-tuned"];
          return [
            fmt(step.n),
            `${fmt(mine?.jobsPerSec)}${mine?.partial ? " (partial)" : ""}`,
            fmt(mine ? 1e6 / mine.jobsPerSec : undefined),
            fmt(cpuMsPerJob(step, "pgmill"), 3),
            `${fmt(theirs?.jobsPerSec)}${theirs?.partial ? " (partial)" : ""}`,
            fmt(cpuMsPerJob(step, "gw-tuned"), 3),
            fmtRatio(step.summary.pgmillRatio["gw-tuned"]),
          ];
        }),
      ),
    );
  }

  if (results.ledger) {
    const l = results.ledger;
    out.push("", `pgmill ledger as history grows: group commits of ${l.rowsPerCommit} rows (median of 200 at each size)`);
    out.push(
      table(
        ["history rows", "ms/commit", "µs/row", "vs empty"],
        l.steps.map((s) => [fmt(s.historyRows), fmt(s.msPerCommit, 2), fmt(s.usPerRow, 1), fmtRatio(s.usPerRow / l.steps[0]!.usPerRow)]),
      ),
    );
    out.push(
      `Retention (30 days) dropped ${fmt(l.prune.partitionsDropped)} daily partitions holding ${fmt(l.prune.rowsDropped)} rows in ` +
        `${fmt(l.prune.retentionMs, 1)} ms (${fmt(l.prune.retentionMs / Math.max(1, l.prune.partitionsDropped), 1)} ms a partition); a DELETE of the same rows took ${fmt(l.prune.deleteMs)} ms (and leaves them for VACUUM).`,
    );
  }

  if (results.dashboard) {
    const d = results.dashboard;
    out.push("", `Dashboard server time with ${fmt(d.historyRows)} history rows, ${fmt(d.liveJobs)} live jobs, ${fmt(d.deadLetters)} dead letters (in-process, 10 requests a page)`);
    out.push(table(["page", "median ms", "max ms"], d.pages.map((p) => [p.page, fmt(p.medianMs, 1), fmt(p.maxMs, 1)])));
  }

  if (results.limits) {
    out.push("", `What task limits cost when not hit: the bench task as is, and with ${JSON.stringify(results.limits.limits)}, side by side`);
    out.push(
      table(
        ["workload", "jobs", "no limits jobs/s", "limits not hit jobs/s", "limited / unlimited (median of rounds)"],
        results.limits.steps.map((step) => [
          step.kind,
          fmt(step.summary.n),
          fmt(step.summary.bySystem.pgmill?.jobsPerSec),
          fmt(step.summary.bySystem[LIMITED_ID]?.jobsPerSec),
          fmtRatio(step.limitedOverUnlimited),
        ]),
      ),
    );
  }

  const failures = [
    ...(backlog?.failures ?? []).map((f) => ["backlog", f] as const),
    ...(latency?.failures ?? []).map((f) => ["latency", f] as const),
    ...(io?.failures ?? []).map((f) => ["5 ms I/O", f] as const),
    ...(retry?.failures ?? []).map((f) => ["20% retry", f] as const),
    ...(scaling?.failures ?? []).map((f) => ["processes", f] as const),
  ];
  if (failures.length) {
    out.push("", "Failed measurements (left out of the tables above)");
    out.push(table(["workload", "system", "round", "error"], failures.map(([w, f]) => [w, f.system, String(f.round), f.error.slice(0, 160)])));
  }

  const t = results.targets ?? targets(results);
  out.push("", "pgmill's targets");
  out.push(table(["target", "measured", "met"], t.map((x) => [x.target, x.measured, x.met === null ? "—" : x.met ? "yes" : "NO"])));
  return out;
}

/**
 * CPU milliseconds per job of the process that ran the jobs, in a drain. Postgres's
 * share is left out: on a shared server it cannot be told apart from other clients'.
 */
function cpuMsPerJob(step: BacklogSizeStep | undefined, system: SystemId = "pgmill"): number | undefined {
  const s = step?.summary.bySystem[system];
  if (!s || s.workersPct === null) return undefined;
  return ((s.workersPct / 100) * s.seconds * 1000) / step!.n;
}

/** A system's throughput over graphile-worker tuned's in the same round, median over rounds. */
function ratioToGwTuned(summary: DrainSummary | undefined, id: SystemId): number | undefined {
  return summary && medianRoundRatio(summary.runs, (r) => r.system === id, (r) => r.system === "gw-tuned");
}
