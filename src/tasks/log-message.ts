import { z } from "zod";
import { defineTask } from "./define-task.js";

/**
 * The smallest useful task, and the template for yours: a schema for the
 * payload, and a handler that gets it parsed and typed.
 */
export const logMessageTask = defineTask({
  name: "log-message",
  payload: z.object({
    message: z.string().min(1).max(10_000),
    level: z.enum(["info", "warn"]).default("info"),
  }),
  maxAttempts: 3,
  timeout: 10_000,
  handler: async ({ message, level }, { logger, job }) => {
    logger[level]({ scheduledFor: job.cron?.ts }, message);
  },
});
