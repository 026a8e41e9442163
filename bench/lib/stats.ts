/** Small statistics and formatting helpers for the benchmark report. */

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/**
 * How a run compares with another measured side by side: the median over
 * rounds of `mine`'s jobs/s over `theirs'` in the same round, so a slow
 * phase of a shared machine hits both. Undefined when no round has both.
 */
export function medianRoundRatio<R extends { readonly round: number; readonly jobsPerSec: number }>(
  runs: readonly R[],
  mine: (run: R) => boolean,
  theirs: (run: R) => boolean,
): number | undefined {
  const ratios = runs.filter(mine).flatMap((m) => {
    const t = runs.find((r) => theirs(r) && r.round === m.round);
    return t ? [m.jobsPerSec / t.jobsPerSec] : [];
  });
  return ratios.length ? median(ratios) : undefined;
}

/** Linear-interpolated quantile (q in [0, 1]); NaN for no values. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  const lowValue = sorted[low]!;
  const highValue = sorted[high]!;
  return lowValue + (highValue - lowValue) * (position - low);
}

export interface Percentiles {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  return {
    n: values.length,
    p50: quantile(values, 0.5),
    p95: quantile(values, 0.95),
    p99: quantile(values, 0.99),
    max: values.length ? Math.max(...values) : Number.NaN,
  };
}

export function round(value: number, digits = 1): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Human formatting: "12 345", "3.4", "—" for missing. */
export function fmt(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const fixed = value.toFixed(digits);
  const [whole = "", fraction] = fixed.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, " ");
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

export function fmtRatio(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? "—" : `${value.toFixed(2)}x`;
}

/** A plain-text table (also valid Markdown). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? "-".repeat(w) : `${"-".repeat(Math.max(1, w - 1))}:`)).join(" | ")} |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}
