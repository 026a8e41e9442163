-- pgmill's own schema: the attempt ledger, dead letters, and the views people
-- query from psql. graphile-worker's schema is installed by graphile-worker's
-- own migrations before this file runs; we only use its public functions/views.
-- Shipped migrations are never edited: add a new numbered file instead.

create schema if not exists pgmill;

-- One row per attempt. `id` is chosen by the daemon so a ledger batch that is
-- retried after an ambiguous commit failure cannot write the same row twice.
create table pgmill.job_runs (
  id            uuid primary key,
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
  payload       jsonb
);

comment on table pgmill.job_runs is
  'One row per job attempt, written before graphile-worker completes or fails the job.';
comment on column pgmill.job_runs.payload is
  'The job payload, stored, redacted (shape kept, values replaced) or omitted per PGMILL_HISTORY_PAYLOAD.';

create index job_runs_task_started_idx on pgmill.job_runs (task, started_at desc);
create index job_runs_job_id_idx on pgmill.job_runs (job_id, attempt);
create index job_runs_started_idx on pgmill.job_runs (started_at desc);
create index job_runs_failures_idx on pgmill.job_runs (finished_at desc)
  where status <> 'succeeded';

-- Jobs that will never succeed, with everything needed to run them again.
-- `job_id` is unique: a move that is interrupted and redone lands once.
create table pgmill.dead_letters (
  id                 bigint generated always as identity primary key,
  job_id             bigint not null unique,
  job_revision       integer not null default 0,
  task               text not null,
  payload            jsonb not null,
  queue              text,
  priority           integer not null default 0,
  job_key            text,
  flags              text[],
  attempts           integer not null,
  max_attempts       integer not null,
  job_created_at     timestamptz,
  reason             text not null
                     check (reason in ('max_attempts', 'permanent_error', 'invalid_payload', 'daemon_lost')),
  last_error         text check (octet_length(last_error) <= 8192),
  last_error_stack   text check (octet_length(last_error_stack) <= 16384),
  died_at            timestamptz not null default now(),
  daemon_id          text,
  retried_at         timestamptz,
  retried_as_job_id  bigint
);

comment on table pgmill.dead_letters is
  'Jobs that failed for good. Re-run with pgmill.retry_dead_letter(id) or pgmill.retry_dead_letters(task).';

create index dead_letters_pending_idx on pgmill.dead_letters (died_at desc) where retried_at is null;
create index dead_letters_task_idx on pgmill.dead_letters (task, died_at desc);

-- Re-enqueue one dead letter through graphile-worker's public add_job, and mark
-- it retried. Returns the new job's id.
create function pgmill.retry_dead_letter(dead_letter_id bigint) returns bigint
language plpgsql volatile as $$
declare
  dl pgmill.dead_letters;
  new_job_id bigint;
begin
  select * into dl from pgmill.dead_letters where id = dead_letter_id for update;
  if not found then
    raise exception 'dead letter % does not exist', dead_letter_id using errcode = 'no_data_found';
  end if;
  if dl.retried_at is not null then
    raise exception 'dead letter % was already retried as job %', dead_letter_id, dl.retried_as_job_id
      using errcode = 'unique_violation';
  end if;
  -- A move interrupted before graphile-worker deleted the job leaves it behind;
  -- clear it first so the job key (if any) is free for the new job.
  perform graphile_worker.complete_jobs(array[dl.job_id]);
  select (graphile_worker.add_job(
    identifier   => dl.task,
    payload      => dl.payload::json,
    queue_name   => dl.queue,
    max_attempts => dl.max_attempts,
    job_key      => dl.job_key,
    priority     => dl.priority,
    flags        => dl.flags
  )).id into new_job_id;
  update pgmill.dead_letters
     set retried_at = now(), retried_as_job_id = new_job_id
   where id = dead_letter_id;
  return new_job_id;
end;
$$;

-- Re-enqueue every pending dead letter, or those of one task. Returns how many.
create function pgmill.retry_dead_letters(only_task text default null) returns integer
language plpgsql volatile as $$
declare
  dl_id bigint;
  retried integer := 0;
begin
  for dl_id in
    select id from pgmill.dead_letters
     where retried_at is null and (only_task is null or task = only_task)
     order by id
     for update skip locked
  loop
    perform pgmill.retry_dead_letter(dl_id);
    retried := retried + 1;
  end loop;
  return retried;
end;
$$;

-- Delete dead letters that died longer ago than `older_than`. Returns how many.
create function pgmill.purge_dead_letters(older_than interval) returns integer
language sql volatile as $$
  with purged as (
    delete from pgmill.dead_letters where died_at < now() - older_than returning 1
  )
  select count(*)::integer from purged;
$$;

-- Per-task health over a window (default: the last 24 hours).
create function pgmill.task_stats_over(since interval) returns table (
  task text,
  runs bigint,
  succeeded bigint,
  failed bigint,
  success_rate numeric,
  p50_ms double precision,
  p95_ms double precision,
  last_success timestamptz,
  last_failure timestamptz
)
language sql stable as $$
  select task,
         count(*),
         count(*) filter (where status = 'succeeded'),
         count(*) filter (where status <> 'succeeded'),
         round(count(*) filter (where status = 'succeeded')::numeric / count(*), 4),
         percentile_cont(0.5) within group (order by duration_ms),
         percentile_cont(0.95) within group (order by duration_ms),
         max(finished_at) filter (where status = 'succeeded'),
         max(finished_at) filter (where status <> 'succeeded')
    from pgmill.job_runs
   where started_at >= now() - since
   group by task;
$$;

create view pgmill.task_stats as
  select * from pgmill.task_stats_over(interval '24 hours');

comment on view pgmill.task_stats is
  'Runs, success rate, p50/p95 duration, last success and failure per task over the last 24 hours; '
  'use pgmill.task_stats_over(interval) for another window.';

-- The last 100 failed attempts, newest first: the first thing to look at.
create view pgmill.recent_failures as
  select job_id, task, attempt, max_attempts, status, error_message, finished_at, daemon_id
    from pgmill.job_runs
   where status <> 'succeeded'
   order by finished_at desc
   limit 100;
