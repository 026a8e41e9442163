import type { Scenario } from "../lib/scenario.js";
import { connectionLimit } from "./connection-limit.js";
import { crontabOnce } from "./crontab-once.js";
import { crontabReadError } from "./crontab-read-error.js";
import { ctrlC } from "./ctrl-c.js";
import { killNine } from "./kill-nine.js";
import { limitsKillNine } from "./limits-kill-nine.js";
import { pauseKillNine } from "./pause-kill-nine.js";
import { poolerRestart } from "./pooler-restart.js";
import { postgresCrash } from "./postgres-crash.js";
import { postgresRestart } from "./postgres-restart.js";
import { queueKillNine } from "./queue-kill-nine.js";
import { rollingRestart } from "./rolling-restart.js";
import { sigstopPause } from "./sigstop-pause.js";
import { terminateBackends } from "./terminate-backends.js";

/** Every scenario, in the order the suite runs them. */
export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  "kill-nine": killNine,
  "queue-kill-nine": queueKillNine,
  "postgres-restart": postgresRestart,
  "terminate-backends": terminateBackends,
  "pooler-restart": poolerRestart,
  "rolling-restart": rollingRestart,
  "crontab-once": crontabOnce,
  "connection-limit": connectionLimit,
  "sigstop-pause": sigstopPause,
  "postgres-crash": postgresCrash,
  "crontab-read-error": crontabReadError,
  "ctrl-c": ctrlC,
  "pause-kill-nine": pauseKillNine,
  "limits-kill-nine": limitsKillNine,
};
