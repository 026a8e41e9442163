/**
 * What graphile-worker's `add_job` accepts: attempts and priority are
 * smallints, queue names and job keys have length checks. Checked before a
 * job reaches it (CLI, crontab, task definitions), so the error names the
 * field rather than a constraint.
 */
export const JOB_LIMITS = {
  smallintMin: -32_768,
  smallintMax: 32_767,
  queueNameLength: 128,
  taskIdentifierLength: 128,
  jobKeyLength: 512,
} as const;
