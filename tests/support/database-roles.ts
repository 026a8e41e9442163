import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { createDatabase, dropDatabase, withAdmin } from "./database-admin.js";
import { databaseUrl } from "./database-url.js";
import { onFileCleanup } from "./file-cleanup.js";

export interface LoginRole {
  readonly name: string;
  readonly password: string;
  /** A connection string to `database` as this role, password included. */
  url(database: string): string;
}

/**
 * A login role with a random name and password, dropped after the file's tests
 * (after the databases created later, which clean up first).
 */
export async function createLoginRole(prefix: string): Promise<LoginRole> {
  const adminUrl = inject("adminUrl");
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  const password = randomBytes(12).toString("hex");
  await withAdmin(adminUrl, (admin) =>
    admin.query(`create role ${admin.escapeIdentifier(name)} login password ${admin.escapeLiteral(password)}`),
  );
  onFileCleanup(() => withAdmin(adminUrl, (admin) => admin.query(`drop role if exists ${admin.escapeIdentifier(name)}`)));
  return {
    name,
    password,
    url: (database) => {
      const url = new URL(databaseUrl(adminUrl, database));
      url.username = encodeURIComponent(name);
      url.password = encodeURIComponent(password);
      return url.toString();
    },
  };
}

/** An empty database owned by `owner` (nothing migrated), dropped after the file's tests. */
export async function createEmptyDatabase(owner: LoginRole): Promise<string> {
  const adminUrl = inject("adminUrl");
  const name = `pgmill_empty_${randomBytes(5).toString("hex")}`;
  await createDatabase(adminUrl, name, { owner: owner.name });
  onFileCleanup(() => dropDatabase(adminUrl, name));
  return name;
}
