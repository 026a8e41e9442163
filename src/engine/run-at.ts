/** The latest (and, negated, the earliest) instant a JavaScript Date can hold. */
const MAX_DATE_MS = 8.64e15;

/**
 * A job's run_at as the Date handlers are promised. add_job accepts Postgres'
 * `infinity` and `-infinity`, which node-postgres reads as the numbers
 * ±Infinity; they become the latest or earliest Date there is.
 */
export function runAtDate(value: Date | number): Date {
  return typeof value === "number" ? new Date(Math.sign(value) * MAX_DATE_MS) : value;
}
