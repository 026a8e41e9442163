/** Prints rows as JSON (`--json`) or as an aligned table for people. */
export function printRows(rows: readonly Record<string, unknown>[], options: { json: boolean; empty?: string }): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (!rows.length) {
    process.stdout.write(`${options.empty ?? "(none)"}\n`);
    return;
  }
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  process.stdout.write(`${[line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n")}\n`);
}

/** Prints one result object (JSON, or `key: value` lines). */
export function printObject(value: Record<string, unknown>, options: { json: boolean }): void {
  if (options.json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else for (const [k, v] of Object.entries(value)) process.stdout.write(`${k}: ${cell(v)}\n`);
}

const MAX_CELL = 80;

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  const text = (typeof value === "object" ? JSON.stringify(value) : String(value)).replaceAll(/\s+/g, " ");
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text;
}
