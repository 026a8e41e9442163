import { z } from "zod";
import { defineTask } from "pgmill";
import { digestLine } from "./lib/digest-line.ts";

/** Fans out: one send-reminder job per person, each retried on its own. */
export default defineTask({
  name: "daily-digest",
  payload: z.object({
    team: z.string().min(1),
    people: z.array(z.email()).min(1),
  }),
  maxAttempts: 3,
  handler: async ({ team, people }, { job, addJob, logger }) => {
    // The tick's time (or now, when enqueued by hand) makes the keys unique per
    // digest, so a retried digest replaces its own jobs instead of adding more.
    const day = (job.cron?.ts ?? job.runAt.toISOString()).slice(0, 10);
    for (const to of people) {
      await addJob("send-reminder", { to, message: digestLine(team, day) }, { jobKey: `digest:${team}:${day}:${to}` });
    }
    logger.info({ team, people: people.length }, "digest enqueued");
  },
});
