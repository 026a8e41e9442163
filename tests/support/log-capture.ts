import { pino, type Logger } from "pino";
import { LOGGER_OPTIONS } from "../../src/logging/logger.js";

export interface CapturedLogs {
  readonly logger: Logger;
  readonly lines: Record<string, unknown>[];
  /** Every line as raw text, for "this never appears" checks. */
  text(): string;
}

/** A real pino logger, configured as pgmill's, whose NDJSON lines are kept in memory. */
export function captureLogs(level = "debug"): CapturedLogs {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { ...LOGGER_OPTIONS, level },
    {
      write(line: string) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { logger, lines, text: () => raw.join("") };
}
