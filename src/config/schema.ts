import { z } from "zod";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export const PAYLOAD_MODES = ["stored", "redacted", "omitted"] as const;

const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);
const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().min(0).max(86_400);

/** A host name or IP (`api.example.com`, `10.0.0.5`, `[::1]`), or `*.suffix` for every host under a domain. */
const HOST_PATTERN = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$/;
const hostPatterns = z.string().transform((list, ctx) => {
  const given = list.split(",").map((entry) => entry.trim());
  const entries = given.map((entry) => entry.toLowerCase().replace(/\.$/, ""));
  const bad = given.filter((_, i) => !HOST_PATTERN.test(entries[i]!));
  if (bad.length) {
    ctx.addIssue({
      code: "custom",
      message:
        `not a host name or *.suffix pattern: ${bad.map((b) => JSON.stringify(b)).join(", ")} ` +
        '(expected a comma-separated list like "api.example.com,*.internal.example.com")',
    });
    return z.NEVER;
  }
  return entries;
});

/**
 * Every setting, keyed by its environment variable. Command-line flags map onto
 * the same keys (see `flags.ts`), so both are validated by this one schema.
 */
export const settingsSchema = z
  .object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "expected a postgres:// or postgresql:// connection string")
    .optional(),
  // A direct (or session-mode) connection for what needs a session: LISTEN,
  // advisory locks, migrations, the heartbeat. DATABASE_URL may then be a
  // transaction-mode pooler (PgBouncer, Supabase, Neon).
  PGMILL_DIRECT_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "expected a postgres:// or postgresql:// connection string")
    .optional(),
  PGMILL_CONCURRENCY: positiveInt(1000).default(128),
  PGMILL_DB_POOL_SIZE: z.coerce.number().int().min(4).max(1000).default(10),
  PGMILL_CRONTAB: z.string().min(1).default("./crontab"),
  PGMILL_TASKS: z.string().min(1).optional(),
  PGMILL_TASK_POOL_SIZE: positiveInt(1000).default(5),
  PGMILL_HTTP_PORT: port.default(8080),
  PGMILL_HTTP_ALLOWED_HOSTS: hostPatterns.optional(),
  PGMILL_SHUTDOWN_TIMEOUT: seconds.default(30),
  PGMILL_DATA_DIR: z.string().min(1).default("./.pgmill"),
  PGMILL_EMBEDDED_PORT: port.default(54329),
  PGMILL_HISTORY_PAYLOAD: z.enum(PAYLOAD_MODES).default("stored"),
  PGMILL_LOG_PAYLOADS: z.stringbool().default(false),
  PGMILL_LEDGER_BATCH_SIZE: positiveInt(10_000).default(500),
  // Engine tuning (bench/README.md has the measured curves): jobs fetched ahead
  // per daemon (default: twice the concurrency), and how long completions wait to share a round trip.
  PGMILL_LOCAL_QUEUE_SIZE: positiveInt(10_000).optional(),
  PGMILL_BATCH_DELAY_MS: z.coerce.number().int().min(0).max(1_000).default(1),
  PGMILL_SWEEP_INTERVAL: seconds.min(1).default(60),
  PGMILL_HISTORY_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(30),
  PGMILL_DEAD_LETTER_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(90),
  PGMILL_HEARTBEAT_INTERVAL: seconds.min(0.1).default(5),
  PGMILL_DEAD_AFTER: seconds.min(1).default(30),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  // `pgmill dashboard`: loopback unless told otherwise; actions only with a token.
  PGMILL_DASHBOARD_PORT: port.default(8081),
  PGMILL_DASHBOARD_HOST: z.string().min(1).default("127.0.0.1"),
  PGMILL_DASHBOARD_TOKEN: z.string().min(16, "at least 16 characters (e.g. `openssl rand -hex 24`)").optional(),
  })
  .refine((s) => s.PGMILL_DIRECT_URL === undefined || s.DATABASE_URL !== undefined, {
    path: ["PGMILL_DIRECT_URL"],
    message: "needs DATABASE_URL (the pooled connection) beside it",
  })
  .refine((s) => s.PGMILL_DEAD_AFTER >= 3 * s.PGMILL_HEARTBEAT_INTERVAL, {
    path: ["PGMILL_DEAD_AFTER"],
    message: "must be at least 3 heartbeat intervals (PGMILL_HEARTBEAT_INTERVAL), or live daemons get reaped",
  })
  .refine((s) => s.PGMILL_LOCAL_QUEUE_SIZE === undefined || s.PGMILL_LOCAL_QUEUE_SIZE >= s.PGMILL_CONCURRENCY, {
    path: ["PGMILL_LOCAL_QUEUE_SIZE"],
    message: "must be at least PGMILL_CONCURRENCY, or job slots sit idle between fetches",
  });

export type RawSettings = z.input<typeof settingsSchema>;
export type SettingName = keyof z.infer<typeof settingsSchema>;
