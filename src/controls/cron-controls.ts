import type { CrontabSchedule } from "../crontab/crontab-schedule.js";
import { nextTicks, overlapJobKey } from "../crontab/parse-crontab.js";
import type { DaemonEvents } from "../daemon/daemon-events.js";
import type { Db } from "../db/database.js";
import { checkOverlapSkip, pruneOverlapSkips } from "../engine/cron-ticks.js";
import type { Logger } from "../logging/logger.js";
import { noteCronTick, publishCronLines } from "./cron-lines.js";
import type { CronPauses } from "./cron-pauses.js";
import { EveryScheduler } from "./every-scheduler.js";

/**
 * The crontab controls one daemon runs: it publishes its lines (for
 * run_cron_now and status), keeps the pause windows fresh, runs the `@every`
 * scheduler, and counts the ticks `?overlap=skip` dropped.
 */
export class CronControls {
  private readonly every: EveryScheduler;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly db: Db,
    private readonly crontab: CrontabSchedule,
    readonly pauses: CronPauses,
    private readonly events: DaemonEvents,
    private readonly logger: Logger,
    private readonly daemonId: () => string,
  ) {
    this.every = new EveryScheduler(db, logger, (identifier, tick, outcome) => {
      if (outcome === "enqueued") events.emit("cron:enqueued", [identifier], tick);
      if (outcome === "skipped") this.skipped(identifier, tick);
    });
  }

  async start(): Promise<void> {
    const loaded = () => void this.loaded();
    const enqueued = (identifiers: string[], at: Date) => void this.enqueued(identifiers, at);
    this.events.on("cron:loaded", loaded);
    this.events.on("cron:enqueued", enqueued);
    this.unsubscribe.push(() => this.events.off("cron:loaded", loaded), () => this.events.off("cron:enqueued", enqueued));
    this.pauses.start();
    await this.loaded();
    this.every.start();
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    this.pauses.stop();
    await this.every.stop();
  }

  private async loaded(): Promise<void> {
    const entries = this.crontab.entries;
    this.every.setLines(entries);
    this.events.emit("cron:overlap-lines", entries.filter((e) => e.overlap === "skip").map((e) => e.identifier));
    try {
      await publishCronLines(this.db, entries, this.daemonId());
      await pruneOverlapSkips(this.db);
    } catch (error) {
      this.logger.warn({ err: error }, "cannot publish the crontab lines; run_cron_now and status see the previous ones");
    }
  }

  /** A tick of these lines was enqueued (on any daemon, for minute lines): note it, and see whether overlap=skip dropped it. */
  private async enqueued(identifiers: string[], at: Date): Promise<void> {
    for (const identifier of identifiers) {
      const entry = this.crontab.entries.find((e) => e.identifier === identifier);
      if (!entry) continue;
      try {
        if (entry.everyMs === null && entry.overlap === "skip") {
          const { skipped, counted } = await checkOverlapSkip(this.db, identifier, overlapJobKey(identifier), at);
          if (counted) this.skipped(identifier, at);
          if (skipped) continue;
        }
        await noteCronTick(this.db, identifier, at, nextTicks(entry, at.getTime() + 1, 1)[0] ?? null);
      } catch (error) {
        this.logger.warn({ err: error, identifier }, "cannot record a crontab tick");
      }
    }
  }

  private skipped(identifier: string, tick: Date): void {
    this.logger.info({ identifier, tick }, "crontab tick skipped: the line's previous run is still queued or running (overlap=skip)");
    this.events.emit("cron:overlap-skip", identifier, tick);
  }
}
