-- pgmill.job_runs becomes partitioned by day, so retention drops whole
-- partitions (no bulk DELETE, no VACUUM debt) and inserts stay flat as history
-- grows. A default partition catches rows no daily partition covers (clock
-- skew, very old `lost` attempts), so an insert never fails for lack of one.

alter table pgmill.job_runs rename to job_runs_unpartitioned;
alter index pgmill.job_runs_pkey rename to job_runs_unpartitioned_pkey;
alter index pgmill.job_runs_task_started_idx rename to job_runs_unpartitioned_task_started_idx;
alter index pgmill.job_runs_job_id_idx rename to job_runs_unpartitioned_job_id_idx;
alter index pgmill.job_runs_started_idx rename to job_runs_unpartitioned_started_idx;
alter index pgmill.job_runs_failures_idx rename to job_runs_unpartitioned_failures_idx;
drop view pgmill.recent_failures;

create table pgmill.job_runs (
  id            uuid not null,
  job_id        bigint not null,
  task          text not null,
  queue         text,
  job_key       text,
  attempt       integer not null check (attempt >= 1),
  max_attempts  integer not null check (max_attempts >= 1),
  status        text not null
                check (status in ('succeeded', 'failed', 'timed_out', 'dead', 'lost')),
  error_message text check (octet_length(error_message) <= 8192),
  error_stack   text check (octet_length(error_stack) <= 16384),
  started_at    timestamptz not null,
  finished_at   timestamptz not null,
  duration_ms   double precision not null check (duration_ms >= 0),
  daemon_id     text not null,
  payload       jsonb,
  primary key (id, started_at)
) partition by range (started_at);

comment on table pgmill.job_runs is
  'One row per job attempt, written before graphile-worker completes or fails the job. Partitioned by day of started_at.';
comment on column pgmill.job_runs.payload is
  'The job payload, stored, redacted (shape kept, values replaced) or omitted per PGMILL_HISTORY_PAYLOAD.';

create index job_runs_task_started_idx on pgmill.job_runs (task, started_at desc);
create index job_runs_job_id_idx on pgmill.job_runs (job_id, attempt);
create index job_runs_started_idx on pgmill.job_runs (started_at desc);
create index job_runs_failures_idx on pgmill.job_runs (finished_at desc) where status <> 'succeeded';

create table pgmill.job_runs_default partition of pgmill.job_runs default;

-- Creates the partition for one UTC day (job_runs_pYYYYMMDD) if it is missing,
-- first moving any rows of that day out of the default partition.
create function pgmill.create_job_runs_partition(day date) returns boolean
language plpgsql volatile as $$
declare
  name text := format('job_runs_p%s', to_char(day, 'YYYYMMDD'));
  low timestamptz := (day::timestamp at time zone 'UTC');
  high timestamptz := ((day + 1)::timestamp at time zone 'UTC');
begin
  if to_regclass(format('pgmill.%I', name)) is not null then
    return false;
  end if;
  execute format('create table pgmill.%I (like pgmill.job_runs including defaults including constraints)', name);
  execute format(
    'with moved as (delete from pgmill.job_runs_default where started_at >= %L and started_at < %L returning *)
     insert into pgmill.%I select * from moved', low, high, name);
  execute format('alter table pgmill.job_runs attach partition pgmill.%I for values from (%L) to (%L)', name, low, high);
  return true;
end;
$$;

-- Makes sure partitions exist from yesterday to `days_ahead` days ahead.
-- Returns how many it created.
create function pgmill.ensure_job_runs_partitions(days_ahead integer default 7) returns integer
language plpgsql volatile as $$
declare
  today date := (now() at time zone 'UTC')::date;
  created integer := 0;
begin
  for offset_days in -1..days_ahead loop
    if pgmill.create_job_runs_partition(today + offset_days) then
      created := created + 1;
    end if;
  end loop;
  return created;
end;
$$;

-- Drops daily partitions entirely older than `older_than` (and deletes the
-- default partition's rows that old). Returns how many partitions it dropped.
create function pgmill.drop_job_runs_partitions(older_than interval) returns integer
language plpgsql volatile as $$
declare
  cutoff timestamptz := now() - older_than;
  partition_name text;
  dropped integer := 0;
begin
  for partition_name in
    select c.relname
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_namespace n on n.oid = c.relnamespace
     where i.inhparent = 'pgmill.job_runs'::regclass
       and n.nspname = 'pgmill'
       and c.relname ~ '^job_runs_p[0-9]{8}$'
       and (to_date(substring(c.relname from 11), 'YYYYMMDD') + 1)::timestamp at time zone 'UTC' <= cutoff
  loop
    execute format('drop table pgmill.%I', partition_name);
    dropped := dropped + 1;
  end loop;
  delete from pgmill.job_runs_default where started_at < cutoff;
  return dropped;
end;
$$;

-- Move the history recorded so far into its days.
do $$
declare
  day date;
begin
  for day in select distinct (started_at at time zone 'UTC')::date from pgmill.job_runs_unpartitioned loop
    perform pgmill.create_job_runs_partition(day);
  end loop;
  perform pgmill.ensure_job_runs_partitions(7);
end;
$$;
insert into pgmill.job_runs select * from pgmill.job_runs_unpartitioned;
drop table pgmill.job_runs_unpartitioned;

create view pgmill.recent_failures as
  select job_id, task, attempt, max_attempts, status, error_message, finished_at, daemon_id
    from pgmill.job_runs
   where status <> 'succeeded'
   order by finished_at desc
   limit 100;
