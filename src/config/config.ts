import path from "node:path";
import { PgmillProblemsError } from "../errors.js";
import { LOG_LEVELS, PAYLOAD_MODES, settingsSchema, type SettingName } from "./schema.js";
import { flagFor } from "./flags.js";
import { issueMessage } from "./issue-message.js";

export type PayloadMode = (typeof PAYLOAD_MODES)[number];

/** The daemon's settings: validated once, then frozen. */
export interface Config {
  readonly databaseUrl: string | undefined;
  /** A direct or session-mode connection for LISTEN, locks, migrations and the heartbeat; DATABASE_URL may then be transaction-pooled. */
  readonly directUrl: string | undefined;
  readonly concurrency: number;
  /** Connections the daemon may hold: the engine, the ledger and upkeep; handlers get none, so it need not follow concurrency. */
  readonly databasePoolSize: number;
  readonly crontabPath: string;
  /** The user's tasks directory; null: the built-in tasks only. */
  readonly tasksDir: string | null;
  /** Connections handlers may hold at once through `withPgClient` and `addJob`: a pool apart from the daemon's. */
  readonly taskPoolSize: number;
  readonly httpPort: number;
  /** Hosts the `http` task may call (exact names and `*.suffix` patterns); null: any host. */
  readonly httpAllowedHosts: readonly string[] | null;
  readonly shutdownTimeoutMs: number;
  readonly dataDir: string;
  readonly embeddedPort: number;
  readonly historyPayload: PayloadMode;
  readonly logPayloads: boolean;
  readonly ledgerBatchSize: number;
  /** Jobs graphile-worker locks ahead into this daemon's local queue. */
  readonly localQueueSize: number;
  /** completeJobBatchDelay and failJobBatchDelay: completions in this window share one round trip. */
  readonly batchDelayMs: number;
  readonly sweepIntervalMs: number;
  readonly heartbeatIntervalMs: number;
  readonly historyRetentionDays: number;
  readonly deadLetterRetentionDays: number;
  readonly deadAfterMs: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly dashboardPort: number;
  readonly dashboardHost: string;
  /** Enables the dashboard's actions; null: read-only. A secret: never logged nor shown. */
  readonly dashboardToken: string | null;
}

type Source = Readonly<Record<string, string | undefined>>;

/** A setting in a problem report: its variable, and its flag where it has one. */
function describeSetting(name: SettingName): string {
  const flag = flagFor(name);
  return flag ? `${name} (${flag})` : name;
}

/** Settings whose values are never echoed in errors: a connection string can carry a password, a token is one. */
const SECRET_SETTINGS: ReadonlySet<SettingName> = new Set(["DATABASE_URL", "PGMILL_DIRECT_URL", "PGMILL_DASHBOARD_TOKEN"]);

/**
 * Builds the config from the environment with command-line overrides on top.
 * This is the one place that reads `process.env`; everything else is handed a
 * `Config`. All problems are reported together, each by variable and flag name.
 */
export function loadConfig(
  overrides: Partial<Record<SettingName, string>> = {},
  env: Source = process.env,
  describe: (name: SettingName) => string = describeSetting,
): Config {
  const raw: Record<string, string> = {};
  for (const name of Object.keys(settingsSchema.shape) as SettingName[]) {
    const value = overrides[name] ?? env[name];
    // An empty variable means "unset", as in most shells' `FOO= cmd`.
    if (value !== undefined && value !== "") raw[name] = value;
  }
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]) as SettingName;
      const where = describe(name);
      const given = raw[name] === undefined || SECRET_SETTINGS.has(name) ? "" : ` (got ${JSON.stringify(raw[name])})`;
      return `${where}: ${issueMessage(issue)}${given}`;
    });
    throw new PgmillProblemsError("PGMILL_INVALID_CONFIG", "Invalid configuration:", problems);
  }
  const s = parsed.data;
  return Object.freeze({
    databaseUrl: s.DATABASE_URL,
    directUrl: s.PGMILL_DIRECT_URL,
    concurrency: s.PGMILL_CONCURRENCY,
    databasePoolSize: s.PGMILL_DB_POOL_SIZE,
    crontabPath: path.resolve(s.PGMILL_CRONTAB),
    tasksDir: s.PGMILL_TASKS === undefined ? null : path.resolve(s.PGMILL_TASKS),
    taskPoolSize: s.PGMILL_TASK_POOL_SIZE,
    httpPort: s.PGMILL_HTTP_PORT,
    httpAllowedHosts: s.PGMILL_HTTP_ALLOWED_HOSTS ? Object.freeze(s.PGMILL_HTTP_ALLOWED_HOSTS) : null,
    shutdownTimeoutMs: Math.round(s.PGMILL_SHUTDOWN_TIMEOUT * 1000),
    dataDir: path.resolve(s.PGMILL_DATA_DIR),
    embeddedPort: s.PGMILL_EMBEDDED_PORT,
    historyPayload: s.PGMILL_HISTORY_PAYLOAD,
    logPayloads: s.PGMILL_LOG_PAYLOADS,
    ledgerBatchSize: s.PGMILL_LEDGER_BATCH_SIZE,
    localQueueSize: s.PGMILL_LOCAL_QUEUE_SIZE ?? Math.max(2, 2 * s.PGMILL_CONCURRENCY),
    batchDelayMs: s.PGMILL_BATCH_DELAY_MS,
    sweepIntervalMs: Math.round(s.PGMILL_SWEEP_INTERVAL * 1000),
    heartbeatIntervalMs: Math.round(s.PGMILL_HEARTBEAT_INTERVAL * 1000),
    historyRetentionDays: s.PGMILL_HISTORY_RETENTION_DAYS,
    deadLetterRetentionDays: s.PGMILL_DEAD_LETTER_RETENTION_DAYS,
    deadAfterMs: Math.round(s.PGMILL_DEAD_AFTER * 1000),
    logLevel: s.LOG_LEVEL,
    dashboardPort: s.PGMILL_DASHBOARD_PORT,
    dashboardHost: s.PGMILL_DASHBOARD_HOST,
    dashboardToken: s.PGMILL_DASHBOARD_TOKEN ?? null,
  });
}
