import { readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { processAlive } from "./process-alive.js";

/**
 * The daemon that started the embedded Postgres under a data dir, as it
 * records itself there: one-shot commands use its server, and a second daemon
 * on the same data dir is told whose it is. A file left by a killed daemon
 * names a dead pid and counts for nothing.
 */
export interface EmbeddedOwner {
  readonly pid: number;
  readonly connectionString: string;
}

const FILE = "daemon.json";

export async function recordEmbeddedOwner(dataDir: string, connectionString: string): Promise<void> {
  const owner: EmbeddedOwner = { pid: process.pid, connectionString };
  const file = path.join(dataDir, FILE);
  // Written aside then renamed, so a reader never sees half a file.
  await writeFile(`${file}.${process.pid}`, `${JSON.stringify(owner)}\n`);
  await rename(`${file}.${process.pid}`, file);
}

export async function forgetEmbeddedOwner(dataDir: string): Promise<void> {
  await rm(path.join(dataDir, FILE), { force: true });
}

/** The owner recorded under `dataDir`, if that process is still alive. */
export async function liveEmbeddedOwner(dataDir: string): Promise<EmbeddedOwner | null> {
  let owner: Partial<EmbeddedOwner>;
  try {
    owner = JSON.parse(await readFile(path.join(dataDir, FILE), "utf8")) as Partial<EmbeddedOwner>;
  } catch {
    return null;
  }
  const { pid, connectionString } = owner;
  if (typeof pid !== "number" || typeof connectionString !== "string" || !processAlive(pid)) return null;
  return { pid, connectionString };
}
