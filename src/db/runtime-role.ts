import { sql } from "kysely";
import type { Db } from "./database.js";

/** A way a runtime role could still create objects, and the statement that takes it away. */
export interface CreatePrivilege {
  /** Why, e.g. `PUBLIC may create in schema public` (before PostgreSQL 15 the default). */
  readonly privilege: string;
  /** The statement to run as a superuser or the object's owner, e.g. `revoke create on schema public from public;`. */
  readonly fix: string;
}

/**
 * pgmill.grant_runtime (sql/0004, sql/0006), then what the role could still
 * create: grant_runtime raises those as warnings, which a pooled client never
 * sees, so they are read back as rows for the caller to show.
 */
export async function grantRuntimeRole(db: Db, role: string): Promise<readonly CreatePrivilege[]> {
  await sql`select pgmill.grant_runtime(${role})`.execute(db);
  const { rows } = await sql<CreatePrivilege>`
    select privilege, fix from pgmill.runtime_role_create_privileges(${role})
  `.execute(db);
  return rows;
}

/** One line per privilege, in grant_runtime's wording. */
export function createPrivilegeWarning(role: string, { privilege, fix }: CreatePrivilege): string {
  return `runtime role ${role} can create objects: ${privilege}. To stop that, run as a superuser (or the object's owner): ${fix}`;
}
