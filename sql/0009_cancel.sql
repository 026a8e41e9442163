-- Cancelling a job (issue 12 part 8): pgmill.cancel_job(id) removes a queued
-- job at once, with a `cancelled` history row, or asks whichever daemon runs
-- it to abort its handler's signal; that attempt is then recorded `cancelled`
-- and the job completed, so it is neither retried nor dead-lettered.

-- A run status for cancelled attempts (the check is found by its column, as in 0005).
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
  check (status in ('succeeded', 'failed', 'timed_out', 'dead', 'lost', 'stale', 'cancelled'));

-- A cancel is an operator's decision, not a failure of the task: per-task
-- stats and recent failures leave cancelled attempts out of their failures
-- (`runs` still counts them), as the PgmillJobsFailing alert does.
create or replace function pgmill.task_stats_over(since interval) returns table (
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
         count(*) filter (where status not in ('succeeded', 'cancelled')),
         round(count(*) filter (where status = 'succeeded')::numeric
               / nullif(count(*) filter (where status <> 'cancelled'), 0), 4),
         percentile_cont(0.5) within group (order by duration_ms),
         percentile_cont(0.95) within group (order by duration_ms),
         max(finished_at) filter (where status = 'succeeded'),
         max(finished_at) filter (where status not in ('succeeded', 'cancelled'))
    from pgmill.job_runs
   where started_at >= now() - since
   group by task;
$$;

create or replace view pgmill.recent_failures as
  select job_id, task, attempt, max_attempts, status, error_message, finished_at, daemon_id
    from pgmill.job_runs
   where status <> 'succeeded' and status <> 'cancelled'
   order by finished_at desc
   limit 100;

-- One row per job an operator cancelled. `requested`: the job was running (or
-- locked) when asked; daemons poll these and abort the attempt. `removed`: a
-- queued job cancel_job removed itself; the first daemon to see the row counts
-- it in its metrics and deletes it (no daemon process sees psql's calls otherwise).
create table pgmill.cancel_requests (
  job_id        bigint primary key,
  task          text not null,
  state         text not null default 'requested' check (state in ('requested', 'removed')),
  requested_at  timestamptz not null default now(),
  requested_by  text not null default current_user
);

comment on table pgmill.cancel_requests is
  'Cancels asked with pgmill.cancel_job: requested (a daemon aborts the running attempt) or removed (queued job gone; counted by a daemon, then deleted).';

-- Cancels job `job_id`. Returns what happened:
--   cancelled    it was queued (or waiting for a retry): removed now, with a `cancelled` row
--   cancelling   it is locked (running): the daemon running it aborts its signal within a second
--   dead_letter  its attempts are spent: it is (or is about to be) a dead letter, nothing runs it again
--   finished     it is no longer queued and has history: nothing to cancel
--   not_found    no such job, and no history of one
-- Idempotent: asking again while it runs returns `cancelling` again.
create function pgmill.cancel_job(job_id bigint) returns text
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  target_id bigint := job_id;
  j record;
  removed record;
  already_recorded boolean;
begin
  if target_id is null then
    raise exception 'pgmill.cancel_job: job_id must not be null' using errcode = 'null_value_not_allowed';
  end if;
  -- A few rounds: a daemon may claim, fail or complete the job between our reads.
  for attempt_round in 1..5 loop
    select v.id, v.task_identifier, v.queue_name, v.key, v.attempts, v.max_attempts, v.locked_at
      into j from graphile_worker.jobs v where v.id = target_id;
    if not found then
      delete from pgmill.cancel_requests r where r.job_id = target_id and r.state = 'requested';
      if exists (select 1 from pgmill.dead_letters d where d.job_id = target_id and d.retried_at is null) then
        return 'dead_letter';
      end if;
      if exists (select 1 from pgmill.job_runs r where r.job_id = target_id) then
        return 'finished';
      end if;
      return 'not_found';
    end if;

    if j.locked_at is not null then
      insert into pgmill.cancel_requests (job_id, task) values (target_id, j.task_identifier)
        on conflict on constraint cancel_requests_pkey do nothing;
      -- Still locked after the insert is visible: a daemon will see it.
      if exists (select 1 from graphile_worker.jobs v where v.id = target_id and v.locked_at is not null) then
        return 'cancelling';
      end if;
      continue;
    end if;

    -- Permanently failed: the dead-letter sweep moves it with its last error; a cancel would lose that.
    if j.attempts >= j.max_attempts then
      delete from pgmill.cancel_requests r where r.job_id = target_id and r.state = 'requested';
      return 'dead_letter';
    end if;

    -- An attempt already recorded `cancelled` whose job came back unlocked
    -- (its daemon shut down before the engine completed it): remove the job
    -- and write no second row for that attempt.
    already_recorded := exists (
      select 1 from pgmill.job_runs r where r.job_id = target_id and r.attempt = j.attempts and r.status = 'cancelled');

    -- complete_jobs deletes only an unlocked job, so a claim that won the race is left alone.
    select c.id into removed from graphile_worker.complete_jobs(array[target_id]) c;
    if not found then
      continue;
    end if;
    if already_recorded then
      delete from pgmill.cancel_requests r where r.job_id = target_id;
      return 'cancelled';
    end if;
    -- The row of the attempt that will now never run. No payload: the
    -- history payload mode (PGMILL_HISTORY_PAYLOAD) is a daemon setting.
    insert into pgmill.job_runs (id, job_id, task, queue, job_key, attempt, max_attempts, status,
                                 error_message, started_at, finished_at, duration_ms, daemon_id, payload)
    values (gen_random_uuid(), target_id, j.task_identifier, j.queue_name, j.key, j.attempts + 1, j.max_attempts,
            'cancelled', format('cancelled while queued, by %s', current_user), now(), now(), 0, 'pgmill.cancel_job', null);
    insert into pgmill.cancel_requests as r (job_id, task, state) values (target_id, j.task_identifier, 'removed')
      on conflict on constraint cancel_requests_pkey
      do update set state = 'removed', requested_at = now(), requested_by = current_user;
    return 'cancelled';
  end loop;
  raise exception 'pgmill.cancel_job: job % kept changing state; try again', target_id using errcode = 'serialization_failure';
end;
$$;

revoke execute on function pgmill.cancel_job(bigint) from public;

-- For daemons: settle requests whose job is no longer running anywhere (it
-- failed before its daemon saw the request, its daemon died and was reaped,
-- or it was released at shutdown): remove it as queued, or forget the request
-- if the job is gone. Returns how many requests it settled.
create function pgmill.settle_cancel_requests() returns integer
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  pending bigint;
  settled integer := 0;
begin
  for pending in
    select r.job_id from pgmill.cancel_requests r
     where r.state = 'requested'
       and not exists (select 1 from graphile_worker.jobs v where v.id = r.job_id and v.locked_at is not null)
     order by r.job_id
     limit 100
  loop
    perform pgmill.cancel_job(pending);
    settled := settled + 1;
  end loop;
  return settled;
end;
$$;

revoke execute on function pgmill.settle_cancel_requests() from public;

-- The runtime role: daemons poll, count and delete requests and settle them;
-- the CLI (often run as the runtime role) cancels.
create function pgmill.grant_runtime_part_cancel(runtime_role name) returns void
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
  execute format('grant select, insert, update, delete on pgmill.cancel_requests to %I', runtime_role);
  execute format('grant execute on function pgmill.cancel_job(bigint), pgmill.settle_cancel_requests() to %I', runtime_role);
end;
$$;

revoke execute on function pgmill.grant_runtime_part_cancel(name) from public;
