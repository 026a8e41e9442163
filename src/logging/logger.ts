import { createRequire } from "node:module";
import { pino, type Logger } from "pino";
import { serializeError } from "./serialize-error.js";

export type { Logger };

/** What every pgmill logger shares: the service name, and errors without the fields that quote data. */
export const LOGGER_OPTIONS = { base: { service: "pgmill" }, serializers: { err: serializeError } } as const;

/**
 * NDJSON on stdout for machines; pretty lines only when a person is watching a
 * terminal and pino-pretty (a dev dependency) is installed. Production images
 * never ship pino-pretty, so they always log JSON.
 */
export function createLogger(level: string, stream: { fd: number; isTTY?: boolean } = process.stdout): Logger {
  const options = { level, ...LOGGER_OPTIONS };
  if (stream.isTTY && prettyAvailable()) {
    return pino({ ...options, transport: { target: "pino-pretty", options: { destination: stream.fd } } });
  }
  return pino(options, pino.destination({ fd: stream.fd, sync: false }));
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve("pino-pretty");
    return true;
  } catch {
    return false;
  }
}
