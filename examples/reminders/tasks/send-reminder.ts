import { z } from "zod";
import { defineTask, PermanentError } from "pgmill";

/**
 * Records a reminder in the app's own table, through a connection from the
 * handlers' pool. The job id makes a retry after a crash idempotent.
 */
export default defineTask({
  name: "send-reminder",
  payload: z.object({
    to: z.email(),
    message: z.string().min(1).max(500),
  }),
  maxAttempts: 5,
  timeout: 10_000,
  handler: async ({ to, message }, { job, logger, withPgClient }) => {
    if (to.endsWith("@example.invalid")) throw new PermanentError(`no mailbox for ${to}`);
    const inserted = await withPgClient(async (client) => {
      const { rowCount } = await client.query(
        "insert into reminders_sent (recipient, message, job_id) values ($1, $2, $3) on conflict (job_id) do nothing",
        [to, message, job.id],
      );
      return rowCount === 1;
    });
    logger.info({ inserted }, inserted ? "reminder sent" : "reminder was already sent by an earlier attempt");
  },
});
