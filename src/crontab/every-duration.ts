// `@every` periods: whole seconds written as h/m/s parts in that order, e.g. 10s, 1m30s, 2h.
const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const SECOND = 1000;
const MAX_SECONDS = 24 * 3600;

/** Milliseconds of an `@every` duration; a bad one throws saying what is accepted. */
export function parseEvery(text: string | undefined): number {
  if (text === undefined) throw new Error("'@every' needs a duration, e.g. '@every 30s my-task'");
  const parts = DURATION.exec(text);
  if (!parts || text === "") {
    throw new Error(`'@every ${text}': not a duration (write whole seconds as h, m and s parts: 10s, 1m30s, 2h)`);
  }
  const [, h = "0", m = "0", s = "0"] = parts;
  const seconds = Number(h) * 3600 + Number(m) * 60 + Number(s);
  if (!(seconds >= 1 && seconds <= MAX_SECONDS)) {
    throw new Error(`'@every ${text}': the period must be from 1s to 24h (use a cron schedule for longer ones)`);
  }
  return seconds * SECOND;
}
