import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/config.js";
import { flagFor, optionKey, SETTING_FLAGS, type FlagSetting } from "../src/config/flags.js";
import { describeOption, settingsFromOptions } from "../src/config/options.js";
import { PgmillError, PgmillProblemsError } from "../src/errors.js";

/** Runs `fn`, which must throw a PgmillProblemsError, and returns that error. */
function problemsOf(fn: () => unknown): PgmillProblemsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PgmillProblemsError);
    return error as PgmillProblemsError;
  }
  throw new Error("expected loadConfig to throw");
}

describe("loadConfig", () => {
  it("uses the documented defaults when nothing is set", () => {
    const config = loadConfig({}, {});
    expect(config).toEqual({
      databaseUrl: undefined,
      concurrency: 128,
      databasePoolSize: 10,
      localQueueSize: 256,
      batchDelayMs: 1,
      crontabPath: path.resolve("crontab"),
      tasksDir: null,
      taskPoolSize: 5,
      httpPort: 8080,
      httpAllowedHosts: null,
      shutdownTimeoutMs: 30_000,
      dataDir: path.resolve(".pgmill"),
      embeddedPort: 54329,
      historyPayload: "stored",
      logPayloads: false,
      ledgerBatchSize: 500,
      sweepIntervalMs: 60_000,
      heartbeatIntervalMs: 5_000,
      historyRetentionDays: 30,
      deadLetterRetentionDays: 90,
      deadAfterMs: 30_000,
      logLevel: "info",
      dashboardPort: 8081,
      dashboardHost: "127.0.0.1",
      dashboardToken: null,
    });
    expect(path.isAbsolute(config.crontabPath)).toBe(true);
  });

  it("reads and converts values from the environment it is given", () => {
    const config = loadConfig(
      {},
      {
        DATABASE_URL: "postgresql://u@db:5432/app",
        PGMILL_CONCURRENCY: "4",
        PGMILL_CRONTAB: "etc/jobs.crontab",
        PGMILL_HTTP_PORT: "0",
        PGMILL_SHUTDOWN_TIMEOUT: "2.5",
        PGMILL_HISTORY_PAYLOAD: "redacted",
        PGMILL_SWEEP_INTERVAL: "5",
        LOG_LEVEL: "debug",
      },
    );
    expect(config.databaseUrl).toBe("postgresql://u@db:5432/app");
    expect(config.concurrency).toBe(4);
    expect(config.crontabPath).toBe(path.resolve("etc/jobs.crontab"));
    expect(config.httpPort).toBe(0);
    expect(config.shutdownTimeoutMs).toBe(2500);
    expect(config.historyPayload).toBe("redacted");
    expect(config.sweepIntervalMs).toBe(5000);
    expect(config.logLevel).toBe("debug");
  });

  it("treats an empty variable as unset", () => {
    const config = loadConfig(
      {},
      { DATABASE_URL: "", PGMILL_CONCURRENCY: "", PGMILL_HTTP_PORT: "", LOG_LEVEL: "", PGMILL_LOG_PAYLOADS: "" },
    );
    expect(config.databaseUrl).toBeUndefined();
    expect(config.concurrency).toBe(128);
    expect(config.httpPort).toBe(8080);
    expect(config.logLevel).toBe("info");
    expect(config.logPayloads).toBe(false);
  });

  it("lets command-line overrides win over the environment", () => {
    const env = { PGMILL_CONCURRENCY: "7", PGMILL_HTTP_PORT: "9000", LOG_LEVEL: "warn" };
    const config = loadConfig({ PGMILL_CONCURRENCY: "5", LOG_LEVEL: "error" }, env);
    expect(config.concurrency).toBe(5);
    expect(config.logLevel).toBe("error");
    // Settings without an override still come from the environment.
    expect(config.httpPort).toBe(9000);
  });

  it("validates an override even when the environment value is fine", () => {
    const error = problemsOf(() => loadConfig({ PGMILL_HTTP_PORT: "-1" }, { PGMILL_HTTP_PORT: "9000" }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^PGMILL_HTTP_PORT \(--http-port\): .*\(got "-1"\)$/);
  });

  it("returns a frozen object", () => {
    const config = loadConfig({}, {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Reflect.set(config, "concurrency", 1)).toBe(false);
    expect(config.concurrency).toBe(128);
  });

  it("reports every invalid setting at once, by variable and flag", () => {
    const error = problemsOf(() =>
      loadConfig(
        {},
        {
          PGMILL_CONCURRENCY: "abc",
          PGMILL_HTTP_PORT: "70000",
          LOG_LEVEL: "loud",
          PGMILL_LOG_PAYLOADS: "maybe",
          DATABASE_URL: "mysql://x",
        },
      ),
    );
    expect(error).toBeInstanceOf(PgmillError);
    expect(error.code).toBe("PGMILL_INVALID_CONFIG");
    expect(error.problems).toHaveLength(5);

    const find = (prefix: string) => error.problems.find((p) => p.startsWith(prefix));
    expect(find("PGMILL_CONCURRENCY (--concurrency): ")).toBe('PGMILL_CONCURRENCY (--concurrency): expected a number (got "abc")');
    expect(find("PGMILL_HTTP_PORT (--http-port): ")).toContain('(got "70000")');
    expect(find("LOG_LEVEL (--log-level): ")).toContain('(got "loud")');
    // A connection string can carry a password: its value is never echoed.
    expect(find("DATABASE_URL (--database-url): ")).not.toContain("mysql://x");
    // No flag for this one, so just the variable.
    expect(find("PGMILL_LOG_PAYLOADS: ")).toContain('(got "maybe")');

    // The message carries every problem too, one per line.
    for (const problem of error.problems) expect(error.message).toContain(problem);
  });

  it("takes a direct URL beside a pooled DATABASE_URL, never echoes it, and wants DATABASE_URL with it", () => {
    const pooled = "postgres://app:s3cret@pooler:6543/app";
    const direct = "postgres://app:s3cret@db:5432/app";
    const config = loadConfig({}, { DATABASE_URL: pooled, PGMILL_DIRECT_URL: direct });
    expect(config).toMatchObject({ databaseUrl: pooled, directUrl: direct });
    expect(loadConfig({ PGMILL_DIRECT_URL: direct }, { DATABASE_URL: pooled }).directUrl).toBe(direct);

    const bad = problemsOf(() => loadConfig({}, { DATABASE_URL: pooled, PGMILL_DIRECT_URL: "mysql://root:s3cret@db" }));
    expect(bad.problems).toEqual(["PGMILL_DIRECT_URL (--direct-url): expected a postgres:// or postgresql:// connection string"]);
    const alone = problemsOf(() => loadConfig({}, { PGMILL_DIRECT_URL: direct }));
    expect(alone.problems).toEqual(["PGMILL_DIRECT_URL (--direct-url): needs DATABASE_URL (the pooled connection) beside it"]);
  });

  it("lists bad flags (overrides) and bad variables together", () => {
    const error = problemsOf(() =>
      loadConfig(
        { PGMILL_SHUTDOWN_TIMEOUT: "-1", PGMILL_CRONTAB: "ok.crontab" },
        { PGMILL_HISTORY_PAYLOAD: "all", PGMILL_SWEEP_INTERVAL: "soon", PGMILL_SHUTDOWN_TIMEOUT: "10" },
      ),
    );
    expect(error.problems).toEqual([
      'PGMILL_SHUTDOWN_TIMEOUT (--shutdown-timeout): Too small: expected number to be >=0 (got "-1")',
      expect.stringMatching(/^PGMILL_HISTORY_PAYLOAD: .*"stored".* \(got "all"\)$/),
      'PGMILL_SWEEP_INTERVAL: expected a number (got "soon")',
    ]);
  });

  it("rejects out-of-range numbers", () => {
    const error = problemsOf(() =>
      loadConfig({}, { PGMILL_CONCURRENCY: "0", PGMILL_LEDGER_BATCH_SIZE: "1.5", PGMILL_SWEEP_INTERVAL: "0.5" }),
    );
    expect(error.problems.map((p) => p.split(":")[0])).toEqual([
      "PGMILL_CONCURRENCY (--concurrency)",
      "PGMILL_LEDGER_BATCH_SIZE",
      "PGMILL_SWEEP_INTERVAL",
    ]);
  });

  it.each([
    ["true", true],
    ["1", true],
    ["false", false],
    ["0", false],
  ])("parses PGMILL_LOG_PAYLOADS=%s as %s", (value, expected) => {
    expect(loadConfig({}, { PGMILL_LOG_PAYLOADS: value }).logPayloads).toBe(expected);
  });

  it("converts the heartbeat settings to milliseconds and rejects a dead-after shorter than three beats", () => {
    const config = loadConfig({}, { PGMILL_HEARTBEAT_INTERVAL: "2", PGMILL_DEAD_AFTER: "10" });
    expect([config.heartbeatIntervalMs, config.deadAfterMs]).toEqual([2000, 10000]);
    expect(loadConfig({}, {})).toMatchObject({ heartbeatIntervalMs: 5000, deadAfterMs: 30000 });
    const error = problemsOf(() => loadConfig({}, { PGMILL_HEARTBEAT_INTERVAL: "5", PGMILL_DEAD_AFTER: "10" }));
    expect(error.problems).toEqual([expect.stringMatching(/^PGMILL_DEAD_AFTER: must be at least 3 heartbeat intervals/)]);
  });

  it("derives the local queue from the concurrency and rejects one smaller than it", () => {
    expect(loadConfig({}, { PGMILL_CONCURRENCY: "50" }).localQueueSize).toBe(100);
    expect(loadConfig({}, { PGMILL_CONCURRENCY: "50", PGMILL_LOCAL_QUEUE_SIZE: "60" }).localQueueSize).toBe(60);
    const error = problemsOf(() => loadConfig({}, { PGMILL_CONCURRENCY: "50", PGMILL_LOCAL_QUEUE_SIZE: "10" }));
    expect(error.problems).toEqual([expect.stringMatching(/^PGMILL_LOCAL_QUEUE_SIZE: must be at least PGMILL_CONCURRENCY/)]);
  });

  it("rejects an unknown history payload mode", () => {
    const error = problemsOf(() => loadConfig({}, { PGMILL_HISTORY_PAYLOAD: "everything" }));
    expect(error.problems).toEqual([expect.stringMatching(/^PGMILL_HISTORY_PAYLOAD: .*\(got "everything"\)$/)]);
  });
});

describe("flags", () => {
  it("turns a setting's flag into commander's option key", () => {
    expect(optionKey("PGMILL_HTTP_PORT")).toBe("httpPort");
    const keys = Object.fromEntries(
      (Object.keys(SETTING_FLAGS) as FlagSetting[]).map((setting) => [setting, optionKey(setting)]),
    );
    expect(keys).toEqual({
      DATABASE_URL: "databaseUrl",
      PGMILL_CONCURRENCY: "concurrency",
      PGMILL_DIRECT_URL: "directUrl",
      PGMILL_DB_POOL_SIZE: "dbPoolSize",
      PGMILL_CRONTAB: "crontab",
      PGMILL_TASKS: "tasks",
      PGMILL_HTTP_PORT: "httpPort",
      PGMILL_SHUTDOWN_TIMEOUT: "shutdownTimeout",
      LOG_LEVEL: "logLevel",
    });
  });

  it("names the flag for a setting, without its argument", () => {
    expect(flagFor("PGMILL_CONCURRENCY")).toBe("--concurrency");
    expect(flagFor("DATABASE_URL")).toBe("--database-url");
    expect(flagFor("PGMILL_DATA_DIR")).toBeUndefined();
  });
});

describe("library options (runDaemon)", () => {
  it("map onto the same settings, in the variables' units, with the environment underneath", () => {
    const config = loadConfig(
      settingsFromOptions({ concurrency: 3, shutdownTimeout: 2.5, httpAllowedHosts: ["api.example.com", "*.internal"], logPayloads: true, tasksDir: "jobs" }),
      { PGMILL_DB_POOL_SIZE: "7", PGMILL_CONCURRENCY: "99" },
      describeOption,
    );
    expect(config).toMatchObject({
      concurrency: 3,
      databasePoolSize: 7,
      shutdownTimeoutMs: 2_500,
      httpAllowedHosts: ["api.example.com", "*.internal"],
      logPayloads: true,
      tasksDir: path.resolve("jobs"),
    });
  });

  it("report every problem at once, by option name, and refuse unknown options", () => {
    expect(problemsOf(() => settingsFromOptions({ concurency: 3, probe: true })).problems).toEqual([
      expect.stringMatching(/^concurency: not a pgmill setting \(known: databaseUrl, directUrl, concurrency, /),
      expect.stringMatching(/^probe: not a pgmill setting/),
    ]);
    const error = problemsOf(() => loadConfig(settingsFromOptions({ concurrency: 0, databaseUrl: "mysql://secret@x" }), {}, describeOption));
    expect(error.problems).toEqual([
      expect.stringMatching(/^databaseUrl \(DATABASE_URL\): expected a postgres:\/\/ /),
      expect.stringMatching(/^concurrency \(PGMILL_CONCURRENCY\): .*\(got "0"\)$/),
    ]);
    expect(error.message).not.toContain("secret");
  });
});
