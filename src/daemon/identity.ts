import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/**
 * Who this daemon is in `pgmill.daemons` and whose locks it holds. A daemon
 * that finds a peer reaped it takes a new identity: its old row keeps the
 * record of the reaping, and the locks it held are nobody's any more.
 */
export class DaemonIdentity {
  private current = newDaemonId();
  private ids = new Set<string>();

  /** host:pid:random — readable in history rows, unique across restarts and rejoins. */
  get id(): string {
    return this.current;
  }

  /** The engine pool and worker ids this identity used: what its job locks carry. */
  get lockIds(): string[] {
    return [...this.ids];
  }

  /** Whether a job claimed under this lock id was claimed by this identity (not by one a peer reaped). */
  owns(lockId: string | null): boolean {
    return lockId !== null && this.ids.has(lockId);
  }

  /** Records a lock id; false if it was known already. */
  addLockId(lockId: string): boolean {
    if (this.ids.has(lockId)) return false;
    this.ids.add(lockId);
    return true;
  }

  /** A new id and no locks; returns the old id. */
  rotate(): string {
    const previous = this.current;
    this.current = newDaemonId();
    this.ids = new Set();
    return previous;
  }
}

function newDaemonId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
}
