import { z } from "zod";
import { defineTask } from "../../src/index.js";

/** At most this many attempts at once over all daemons (chaos scenario limits-kill-nine). */
export const LIMIT = 4;

/**
 * The chaos suite's limited task: the work of the shipped `http` task (a call
 * to the loopback job endpoint), with a cluster-wide concurrency limit.
 */
export default defineTask({
  name: "limited-http",
  payload: z.object({ url: z.url() }),
  concurrency: LIMIT,
  handler: async ({ url }, { signal }) => {
    const response = await fetch(url, { signal });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  },
});
