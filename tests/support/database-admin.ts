import pg from "pg";

/** One short admin session on the server of `adminUrl`. */
export async function withAdmin<T>(adminUrl: string, use: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  admin.on("error", () => undefined);
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** CREATE DATABASE, optionally cloned from `template` and owned by `owner`. */
export async function createDatabase(adminUrl: string, name: string, options: { template?: string; owner?: string } = {}): Promise<void> {
  await withAdmin(adminUrl, async (admin) => {
    const owner = options.owner ? ` owner ${admin.escapeIdentifier(options.owner)}` : "";
    const template = options.template ? ` template ${admin.escapeIdentifier(options.template)}` : "";
    await admin.query(`create database ${admin.escapeIdentifier(name)}${owner}${template}`);
  });
}

/** Drops a database, disconnecting whoever is still on it. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, (admin) => admin.query(`drop database if exists ${admin.escapeIdentifier(name)} with (force)`));
}
