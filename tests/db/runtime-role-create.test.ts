import type pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { expectSuccess, runCli, SLOW_CLI_TIMEOUT } from "../cli/run-cli.js";
import { withAdmin } from "../support/database-admin.js";
import { createLoginRole, type LoginRole } from "../support/database-roles.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

// Before PostgreSQL 15 PUBLIC may create in schema public, so a runtime role
// could create tables there; on 15+ someone may have granted that back. Here
// the grant is made by hand, so every major shows what 13 and 14 do by default.
let db: TestDatabase;
let runtime: LoginRole;
let group: LoginRole;
let databaseOwner: LoginRole;

/** The role that migrated the test database (the superuser), owner of pgmill's schema. */
function pgmillOwner(): string {
  return decodeURIComponent(new URL(db.url).username);
}

/** As the superuser, on the test database. */
function asAdmin<T>(use: (admin: pg.Client) => Promise<T>): Promise<T> {
  return withAdmin(db.url, use);
}

/** Runs pgmill.grant_runtime as pgmill's owner (here the superuser) and returns the warnings Postgres sent. */
async function grantRuntimeWarnings(): Promise<string[]> {
  return asAdmin(async (admin) => {
    const warnings: string[] = [];
    admin.on("notice", (notice) => {
      if (notice.severity === "WARNING") warnings.push(notice.message ?? "");
    });
    await admin.query("select pgmill.grant_runtime($1)", [runtime.name]);
    return warnings;
  });
}

beforeAll(async () => {
  // Roles first, so they are dropped after the database that holds their grants.
  runtime = await createLoginRole("pgmill_runtime");
  group = await createLoginRole("pgmill_group");
  databaseOwner = await createLoginRole("pgmill_dbowner");
  db = await createTestDatabase();
  await asAdmin((admin) => admin.query("grant create on schema public to public"));
});

describe("pgmill migrate --grant-runtime on a database where PUBLIC may create in schema public", () => {
  it("warns, naming the revoke to run; once it is run the role can create nothing there and the warning is gone", async () => {
    const granted = await runCli(["migrate", "--grant-runtime", runtime.name], { databaseUrl: db.url });
    expect(expectSuccess(granted)).toMatch(`runtime_role: ${runtime.name}`);
    expect(granted.stderr).toBe(
      `pgmill: warning: runtime role ${runtime.name} can create objects: PUBLIC may create in schema public. ` +
        "To stop that, run as a superuser (or the object's owner): revoke create on schema public from public;\n",
    );
    // The warning is true: the runtime role can create a table of its own.
    await withAdmin(runtime.url(db.name), (client) => client.query("create table public.probe (id int)"));
    await asAdmin((admin) => admin.query("drop table public.probe"));

    await asAdmin((admin) => admin.query("revoke create on schema public from public;"));
    const regranted = await runCli(["migrate", "--grant-runtime", runtime.name], { databaseUrl: db.url });
    expectSuccess(regranted);
    expect(regranted.stderr).toBe("");
    await expect(
      withAdmin(runtime.url(db.name), (client) => client.query("create table public.intruder (id int)")),
    ).rejects.toMatchObject({ code: "42501" });
  }, SLOW_CLI_TIMEOUT);
});

describe("pgmill.grant_runtime warns, with the statement that takes it away, for each way the role could create objects", () => {
  // Each case grants a way in (as the superuser); running the statement the warning names must close it.
  const cases: { name: string; grant: (admin: pg.Client) => string[]; reason: () => string; fix: () => string }[] = [
    {
      name: "CREATE on schema public granted to the role",
      grant: (a) => [`grant create on schema public to ${a.escapeIdentifier(runtime.name)}`],
      reason: () => `${runtime.name} may create in schema public`,
      fix: () => `revoke create on schema public from ${runtime.name};`,
    },
    {
      name: "CREATE on schema public granted to a role it is a member of",
      grant: (a) => [
        `grant ${a.escapeIdentifier(group.name)} to ${a.escapeIdentifier(runtime.name)}`,
        `grant create on schema public to ${a.escapeIdentifier(group.name)}`,
      ],
      reason: () => `${group.name} may create in schema public`,
      fix: () => `revoke create on schema public from ${group.name};`,
    },
    {
      name: "CREATE on the database (new schemas)",
      grant: (a) => [`grant create on database ${a.escapeIdentifier(db.name)} to ${a.escapeIdentifier(runtime.name)}`],
      reason: () => `${runtime.name} may create schemas in database ${db.name}`,
      fix: () => `revoke create on database ${db.name} from ${runtime.name};`,
    },
    {
      name: "owning schema public",
      grant: (a) => [`alter schema public owner to ${a.escapeIdentifier(runtime.name)}`],
      reason: () => `it acts as ${runtime.name}, the owner of schema public`,
      fix: () => `alter schema public owner to ${pgmillOwner()};`,
    },
    {
      name: "acting as the database's owner",
      grant: (a) => [
        `alter database ${a.escapeIdentifier(db.name)} owner to ${a.escapeIdentifier(databaseOwner.name)}`,
        `grant ${a.escapeIdentifier(databaseOwner.name)} to ${a.escapeIdentifier(runtime.name)}`,
      ],
      reason: () => `it acts as ${databaseOwner.name}, the owner of database ${db.name}`,
      fix: () => `alter database ${db.name} owner to ${pgmillOwner()};`,
    },
  ];

  it("warns about nothing once PUBLIC may no longer create in schema public", async () => {
    await asAdmin((admin) => admin.query("revoke create on schema public from public"));
    expect(await grantRuntimeWarnings()).toEqual([]);
  });

  it.each(cases)("$name", async ({ grant, reason, fix }) => {
    await asAdmin(async (admin) => {
      for (const statement of grant(admin)) await admin.query(statement);
    });
    expect(await grantRuntimeWarnings()).toEqual([
      `runtime role ${runtime.name} can create objects: ${reason()}. ` +
        `To stop that, run as a superuser (or the object's owner): ${fix()}`,
    ]);
    await asAdmin((admin) => admin.query(fix()));
    expect(await grantRuntimeWarnings()).toEqual([]);
  });
});
