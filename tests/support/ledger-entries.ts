import { randomUUID } from "node:crypto";
import type { LedgerEntry, RunRecord } from "../../src/ledger/entry.js";

/** A ledger entry for one succeeded first attempt, with a fresh row id; `run` overrides any field. */
export function ledgerEntry(run: Partial<RunRecord> = {}): LedgerEntry {
  const now = new Date();
  return {
    run: {
      id: randomUUID(),
      jobId: "1",
      task: "ledger-test",
      queue: null,
      jobKey: null,
      attempt: 1,
      maxAttempts: 3,
      status: "succeeded",
      error: null,
      startedAt: now,
      finishedAt: now,
      durationMs: 1,
      daemonId: "test",
      payload: null,
      ...run,
    },
  };
}
