-- A run status for late outcomes: an attempt that finished after its daemon
-- had lost the job's lock (it was paused or partitioned long enough to be
-- reaped, and its job already has a `lost` row). Its result was not applied:
-- the job was neither completed nor failed by it. Recorded as `stale` so it
-- never reads as a second success of an attempt already recorded `lost`.

-- The old check's name depends on history (0003 created it while the
-- unpartitioned table still held `job_runs_status_check`), so it is found by
-- its column. Dropping it on the parent drops the partitions' inherited copies.
do $$
declare
  old_check name;
begin
  for old_check in
    select c.conname
      from pg_constraint c
      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
     where c.conrelid = 'pgmill.job_runs'::regclass and c.contype = 'c' and a.attname = 'status'
  loop
    execute format('alter table pgmill.job_runs drop constraint %I', old_check);
  end loop;
end;
$$;

alter table pgmill.job_runs add constraint job_runs_status_check
  check (status in ('succeeded', 'failed', 'timed_out', 'dead', 'lost', 'stale'));
