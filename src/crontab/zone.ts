/**
 * Wall-clock arithmetic for one IANA timezone, from the platform's Intl data.
 * Offsets are cached per quarter hour: every real-world transition falls on one.
 */
export class Zone {
  private readonly format: Intl.DateTimeFormat;
  private readonly cache = new Map<number, number>();

  constructor(readonly name: string) {
    // Throws RangeError for an unknown zone.
    this.format = new Intl.DateTimeFormat("en-US", {
      timeZone: name,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    });
  }

  static isValid(name: string): boolean {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: name });
      return true;
    } catch {
      return false;
    }
  }

  /** Minutes to add to UTC to get this zone's wall clock at `instant`. */
  offsetMinutes(instant: number): number {
    const block = Math.floor(instant / QUARTER_HOUR);
    let offset = this.cache.get(block);
    if (offset === undefined) {
      if (this.cache.size > 50_000) this.cache.clear();
      offset = this.computeOffset(block * QUARTER_HOUR);
      this.cache.set(block, offset);
    }
    return offset;
  }

  /** The wall-clock reading at `instant`, as a Date whose UTC fields are that reading. */
  wallClock(instant: number): Date {
    return new Date(instant + this.offsetMinutes(instant) * MINUTE);
  }

  private computeOffset(instant: number): number {
    const parts: Record<string, number> = {};
    for (const { type, value } of this.format.formatToParts(instant)) parts[type] = Number(value);
    const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!);
    return Math.round((wall - (instant - (instant % MINUTE))) / MINUTE);
  }
}

export const MINUTE = 60_000;
const QUARTER_HOUR = 15 * MINUTE;
