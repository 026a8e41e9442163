-- Parking: a daemon hands a claimed job back to graphile-worker without running
-- it and without spending its attempt (a paused task, a cluster-wide limit), or
-- asks for a retry at the task's own schedule. graphile-worker's failure sets
-- run_at itself, and its public reschedule_jobs only touches unlocked jobs, so
-- the daemon writes its request here while it still holds the job's lock, lets
-- the engine fail the job, and applies the request once the lock is gone
-- (src/engine/job-reschedules.ts). A request outlives a kill -9: every daemon
-- applies leftovers every half second, and drops those whose job is gone.
create table pgmill.job_reschedules (
  job_id       bigint primary key,
  run_at       timestamptz not null,
  -- The attempts count to restore (a parked job's fetch spent none); null keeps the engine's.
  attempts     integer check (attempts >= 0),
  reason       text not null check (reason in ('retry', 'paused', 'concurrency', 'rate_limit')),
  requested_at timestamptz not null default now()
);
comment on table pgmill.job_reschedules is
  'Reschedules a daemon asked for while it held the job; applied with graphile_worker.reschedule_jobs once the job is unlocked.';

-- Tasks no daemon starts attempts of. A row per paused task; resume deletes it.
create table pgmill.paused_tasks (
  task      text primary key,
  paused_at timestamptz not null default now(),
  paused_by name not null default current_user
);

-- Jobs of paused tasks, parked at run_at = infinity (so no daemon fetches them)
-- with the run_at they had, which resume_task puts back.
create table pgmill.held_jobs (
  job_id  bigint primary key,
  task    text not null,
  run_at  timestamptz not null,
  held_at timestamptz not null default now()
);
create index held_jobs_task on pgmill.held_jobs (task);

-- Pauses a task: its queued jobs are held at once, a job fetched while it is
-- paused is held by the daemon that fetched it; attempts already running
-- finish. Returns false when it was paused already.
create function pgmill.pause_task(task_name text) returns boolean
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  changed boolean;
begin
  if task_name is null or task_name = '' then
    raise exception 'pause_task: a task name is required' using errcode = 'invalid_parameter_value';
  end if;
  insert into pgmill.paused_tasks (task) values (task_name) on conflict do nothing;
  changed := found;
  -- Unlocked, runnable jobs go to infinity now. A job locked meanwhile is
  -- skipped by reschedule_jobs (it runs, or its daemon holds it when it
  -- fetches); one with a pending request is held when it is fetched again.
  with candidates as (
    select j.id, j.run_at
      from graphile_worker.jobs j
     where j.task_identifier = task_name and j.locked_at is null and j.attempts < j.max_attempts
       and j.run_at <> 'infinity'
       and not exists (select 1 from pgmill.job_reschedules r where r.job_id = j.id)
       and not exists (select 1 from pgmill.held_jobs h where h.job_id = j.id)
  ), moved as (
    select m.id from graphile_worker.reschedule_jobs(array(select id from candidates), run_at => 'infinity') m
  )
  insert into pgmill.held_jobs (job_id, task, run_at)
  select c.id, task_name, c.run_at from candidates c join moved m on m.id = c.id
  on conflict (job_id) do nothing;
  return changed;
end;
$$;

-- Resumes a task: its held jobs go back to the run_at they had. Returns false
-- when it was not paused.
create function pgmill.resume_task(task_name text) returns boolean
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  changed boolean;
begin
  -- Waits for a daemon holding a job right now (it reads this row FOR SHARE),
  -- so that job's request and held row are visible below.
  delete from pgmill.paused_tasks where task = task_name;
  changed := found;
  -- Jobs whose daemon has not had them released yet: the request carries the
  -- original run_at instead of infinity.
  update pgmill.job_reschedules r set run_at = h.run_at
    from pgmill.held_jobs h
   where h.task = task_name and r.job_id = h.job_id;
  -- The rest are unlocked at infinity: back to their run_at, one call per job
  -- since each has its own.
  perform 1
     from pgmill.held_jobs h
     cross join lateral graphile_worker.reschedule_jobs(array[h.job_id], run_at => h.run_at) m
    where h.task = task_name
      and not exists (select 1 from pgmill.job_reschedules r where r.job_id = h.job_id);
  delete from pgmill.held_jobs where task = task_name;
  return changed;
end;
$$;

revoke execute on function pgmill.pause_task(text) from public;
revoke execute on function pgmill.resume_task(text) from public;

-- Daemons write, apply and drop requests, hold jobs and read the paused set;
-- the CLI pauses and resumes through the functions.
create function pgmill.grant_runtime_part_parking(runtime_role name) returns void
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
  execute format('grant select, insert, update, delete on pgmill.job_reschedules, pgmill.held_jobs to %I', runtime_role);
  -- UPDATE only because a daemon reads a paused row FOR SHARE (src/engine/job-reschedules.ts), which requires it.
  execute format('grant select, insert, update, delete on pgmill.paused_tasks to %I', runtime_role);
  execute format('grant execute on function pgmill.pause_task(text), pgmill.resume_task(text) to %I', runtime_role);
end;
$$;

revoke execute on function pgmill.grant_runtime_part_parking(name) from public;
