import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/** host:pid:random — readable in history rows, unique across restarts. */
export function newDaemonId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
}
