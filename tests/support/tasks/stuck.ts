import { z } from "zod";
import { defineTask } from "../../../src/index.js";

/** A handler that never settles and ignores its abort signal: what a forced shutdown must get past. */
export default defineTask({ name: "stuck", payload: z.object({}), handler: () => new Promise<void>(() => undefined) });
