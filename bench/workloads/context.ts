import type { Databases, BenchDatabase, PostgresServer } from "../lib/server.js";
import { withAdmin } from "../../tests/support/database-admin.js";
import type { SystemAdapter, SystemId } from "../systems/types.js";

/** What every workload gets from run.ts. */
export interface BenchContext {
  readonly server: PostgresServer;
  readonly dbs: Databases;
  /** The migrated template each system's fresh databases are cloned from. */
  readonly templates: ReadonlyMap<SystemId, BenchDatabase>;
  /** The systems in this run; pgmill first. */
  readonly adapters: readonly SystemAdapter[];
  /** Repetitions of each short measurement (the median is reported). */
  readonly rounds: number;
  log(message: string): void;
}

/** Round r runs the systems in a rotated order, so none always runs first (or last) on a noisy machine. */
export function rotated<T>(items: readonly T[], round: number): T[] {
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

export function templateOf(ctx: BenchContext, adapter: SystemAdapter): BenchDatabase {
  const template = ctx.templates.get(adapter.id);
  if (!template) throw new Error(`no template database for ${adapter.id}`);
  return template;
}

/** The server's WAL position in bytes: its delta over a run is what that run wrote (other traffic on the server included). */
export async function walPosition(adminUrl: string): Promise<bigint> {
  return withAdmin(adminUrl, async (c) => {
    const { rows } = await c.query<{ lsn: string }>("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text as lsn");
    return BigInt(rows[0]!.lsn.split(".")[0]!);
  });
}
