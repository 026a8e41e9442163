-- Cluster-wide limits per task: `concurrency` (at most N attempts running at
-- once over all daemons) and `rateLimit` (at most N attempts started per
-- window over all daemons), both declared in defineTask, so the limit values
-- come from each daemon's task definitions and are passed in. A daemon asks
-- here before an attempt (src/controls/task-limits-check.ts); a job over a
-- limit is parked (sql/0008) without spending its attempt.

-- One row per attempt holding a concurrency slot. lock_id is the worker/pool id
-- that locks the job while the attempt runs: a slot whose job is no longer
-- locked by it (completed, failed, force-unlocked by a reaper) cannot be
-- running any more and is not counted, so no slot outlives its attempt even if
-- its release never came (kill -9).
create table pgmill.task_slots (
  job_id    bigint primary key,
  task      text not null,
  lock_id   text not null,
  daemon_id text not null,
  taken_at  timestamptz not null default now()
);
create index task_slots_task on pgmill.task_slots (task);
create index task_slots_daemon on pgmill.task_slots (daemon_id);

-- Jobs refused a slot, oldest first: a release makes the oldest due at once
-- instead of letting it wait out its park.
create table pgmill.task_slot_waiters (
  job_id bigint primary key,
  task   text not null,
  since  timestamptz not null default clock_timestamp()
);
create index task_slot_waiters_task on pgmill.task_slot_waiters (task, since);

-- The current fixed window of each rate-limited task: windows are aligned to
-- the epoch (per = 1s: each whole second), so every daemon counts the same
-- window, a start costs one row update, and history can be checked bucket by
-- bucket. A sliding window would need a row per start; the price of a fixed
-- one is that a burst straddling a boundary can start up to 2 x max within
-- `per` (never more than max inside one window).
create table pgmill.task_rate_windows (
  task         text primary key,
  window_start timestamptz not null,
  -- Attempts admitted in this window, and jobs refused in it (which spreads
  -- the refused over the following windows).
  started      integer not null,
  refused      integer not null
);

-- The slots whose attempt may still be running: what counts against a limit
-- (status reads this; take_task_slot applies the same rule).
create view pgmill.live_task_slots as
  select s.*
    from pgmill.task_slots s
   where exists (select 1 from graphile_worker.jobs j where j.id = s.job_id and j.locked_by = s.lock_id);

-- Every take and release holds its task's lock (or rate row) until its
-- transaction commits, so a commit that waits for its WAL flush (a disk sync)
-- serialises every daemon's attempts of that task behind one sync each. These
-- transactions commit without waiting for the flush instead: written a moment
-- later by the WAL writer. The price: a crash of Postgres itself (not of a
-- daemon) can forget the takes of its last fraction of a second, letting that
-- many more attempts in once after the restart. Nothing else is lost: the jobs
-- and their locks are graphile-worker's, committed as usual.
create function pgmill.commit_without_flush() returns void
language sql volatile set search_path = pg_catalog, pg_temp as $$
  select set_config('synchronous_commit', 'off', true);
$$;

-- Serialises the takers and releasers of one task's slots (a count and an
-- insert must not interleave). Two int4 keys: the first marks pgmill's slots.
create function pgmill.lock_task_slots(task_name text) returns void
language sql volatile set search_path = pg_catalog, pg_temp as $$
  select pg_advisory_xact_lock(hashtext('pgmill.task_slots'), hashtext(task_name));
$$;

-- Makes up to `wanted` of the task's waiters due now, oldest first; the
-- caller holds the task's lock. A waiter whose park request is still pending
-- (its daemon holds the job) gets the request's run_at moved to now; one
-- already parked is rescheduled to now (its caller nudges its pool, since
-- reschedule_jobs sends no NOTIFY). A job held by a pause is left alone.
-- Returns how many jobs it made due now directly (the pending ones become due
-- when their request is applied, and that daemon nudges then).
create function pgmill.wake_task_slot_waiters(task_name text, wanted integer) returns integer
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  waiter bigint;
  woken integer := 0;
  handled integer := 0;
begin
  for waiter in
    select w.job_id from pgmill.task_slot_waiters w where w.task = task_name order by w.since, w.job_id
  loop
    exit when handled >= wanted;
    delete from pgmill.task_slot_waiters where job_id = waiter;
    update pgmill.job_reschedules set run_at = least(run_at, now())
     where job_id = waiter and reason = 'concurrency';
    if found then
      handled := handled + 1;
      continue;
    end if;
    if exists (select 1 from pgmill.held_jobs h where h.job_id = waiter)
       or exists (select 1 from pgmill.job_reschedules r where r.job_id = waiter) then
      continue;
    end if;
    -- Skips a locked job (being fetched or parked right now: its park's own
    -- short delay brings it back) and a gone one; both just end its turn.
    if exists (select 1 from graphile_worker.reschedule_jobs(array[waiter], run_at => now())) then
      woken := woken + 1;
      handled := handled + 1;
    end if;
  end loop;
  return woken;
end;
$$;

-- Takes a concurrency slot of `task_name` for a job this daemon holds (locked
-- by `lock`). Returns 0 when taken; when all `slot_limit` slots are in use,
-- registers the job as a waiter and returns how many wait (the caller parks it
-- for a while that grows with the queue); null when the job is not locked by
-- `lock` (the daemon lost it: nothing taken).
create function pgmill.take_task_slot(task_name text, slot_limit integer, job bigint, lock text, daemon text) returns integer
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  used integer;
  waiting integer;
begin
  if slot_limit is null or slot_limit < 1 then
    raise exception 'take_task_slot: slot_limit must be at least 1 (task %)', task_name using errcode = 'invalid_parameter_value';
  end if;
  perform pgmill.commit_without_flush();
  perform pgmill.lock_task_slots(task_name);
  if not exists (select 1 from graphile_worker.jobs j where j.id = job and j.locked_by = lock) then
    return null;
  end if;
  select count(*) into used from pgmill.task_slots s where s.task = task_name and s.job_id <> job;
  if used >= slot_limit then
    -- Full: first drop the slots whose attempt cannot be running (their job is
    -- gone, or no longer locked by the lock that took the slot: the release
    -- was lost). Only when full, so a limit that is not hit costs no lookups.
    delete from pgmill.task_slots s
     where s.task = task_name
       and not exists (select 1 from graphile_worker.jobs j where j.id = s.job_id and j.locked_by = s.lock_id);
    select count(*) into used from pgmill.task_slots s where s.task = task_name and s.job_id <> job;
  end if;
  if used < slot_limit then
    insert into pgmill.task_slots (job_id, task, lock_id, daemon_id) values (job, task_name, lock, daemon)
    on conflict (job_id) do update set task = excluded.task, lock_id = excluded.lock_id, daemon_id = excluded.daemon_id, taken_at = now();
    delete from pgmill.task_slot_waiters where job_id = job;
    return 0;
  end if;
  insert into pgmill.task_slot_waiters (job_id, task) values (job, task_name) on conflict (job_id) do nothing;
  select count(*) into waiting from pgmill.task_slot_waiters w where w.task = task_name;
  return waiting;
end;
$$;

-- Gives back the slot of a finished attempt and wakes the oldest waiter.
-- Returns how many jobs it made due now (0 when the job held no slot).
create function pgmill.release_task_slot(job bigint) returns integer
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  task_name text;
begin
  select s.task into task_name from pgmill.task_slots s where s.job_id = job;
  if not found then
    return 0;
  end if;
  perform pgmill.commit_without_flush();
  perform pgmill.lock_task_slots(task_name);
  delete from pgmill.task_slots where job_id = job;
  if not found then
    return 0;
  end if;
  return pgmill.wake_task_slot_waiters(task_name, 1);
end;
$$;

-- Frees every slot of these daemons (a reaper for dead peers, a daemon for
-- itself at shutdown) and wakes as many waiters. Returns the jobs made due now.
create function pgmill.release_daemon_task_slots(daemon_ids text[]) returns integer
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  t record;
  freed integer;
  woken integer := 0;
begin
  for t in select distinct s.task from pgmill.task_slots s where s.daemon_id = any(daemon_ids) order by s.task loop
    perform pgmill.lock_task_slots(t.task);
    delete from pgmill.task_slots s where s.task = t.task and s.daemon_id = any(daemon_ids);
    get diagnostics freed = row_count;
    if freed > 0 then
      woken := woken + pgmill.wake_task_slot_waiters(t.task, freed);
    end if;
  end loop;
  return woken;
end;
$$;

-- Counts one start of `task_name` in its current window of `per_seconds`.
-- Returns null when admitted; else when to try again: the next window's
-- start, or a later window's for jobs refused after the first `max_starts`
-- of this window (each following window gets the next max_starts refused), so
-- a backlog is spread over the windows it needs instead of all coming back
-- at the next boundary. The task's row lock serialises the daemons.
create function pgmill.take_task_rate(task_name text, max_starts integer, per_seconds double precision) returns timestamptz
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  win timestamptz;
  w pgmill.task_rate_windows;
  per interval;
begin
  if max_starts is null or max_starts < 1 or per_seconds is null or per_seconds <= 0 then
    raise exception 'take_task_rate: max_starts must be at least 1 and per_seconds positive (task %)', task_name
      using errcode = 'invalid_parameter_value';
  end if;
  perform pgmill.commit_without_flush();
  per := make_interval(secs => per_seconds);
  -- clock_timestamp, not now(): the window of the moment of the start.
  win := to_timestamp(floor(extract(epoch from clock_timestamp()) / per_seconds) * per_seconds);
  insert into pgmill.task_rate_windows (task, window_start, started, refused) values (task_name, win, 0, 0)
  on conflict (task) do nothing;
  select * into w from pgmill.task_rate_windows r where r.task = task_name for update;
  if w.window_start is distinct from win then
    w.started := 0;
    w.refused := 0;
  end if;
  if w.started < max_starts then
    update pgmill.task_rate_windows set window_start = win, started = w.started + 1, refused = w.refused where task = task_name;
    return null;
  end if;
  update pgmill.task_rate_windows set window_start = win, started = w.started, refused = w.refused + 1 where task = task_name;
  return win + per * (1 + floor(w.refused::double precision / max_starts));
end;
$$;

-- What a daemon calls: the takes of many attempts at once (its group of
-- concurrent checks, src/controls/limit-batches.ts), one round trip and one
-- commit for all. Each element takes a slot (when slot_limits is not null),
-- then a rate start (when rate_max is not null); a slot taken for a job the
-- rate refuses is given back at once. Elements are handled in task order, so
-- batches lock tasks in one order and never deadlock. Per job: waiting is
-- take_task_slot's answer (0 taken, > 0 refused, null not locked by `locks`;
-- 0 when no slot was asked), retry_at take_task_rate's.
create function pgmill.take_task_limits(
  tasks text[], slot_limits integer[], jobs bigint[], locks text[], daemon text, rate_max integer[], rate_per double precision[]
) returns table (job bigint, waiting integer, retry_at timestamptz)
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  r record;
begin
  perform pgmill.commit_without_flush();
  for r in
    select t.task, t.slot_limit, t.job, t.lock, t.rate_max, t.rate_per
      from unnest(tasks, slot_limits, jobs, locks, rate_max, rate_per) with ordinality
           as t(task, slot_limit, job, lock, rate_max, rate_per, n)
     order by t.task, t.n
  loop
    job := r.job;
    waiting := 0;
    retry_at := null;
    if r.slot_limit is not null then
      waiting := pgmill.take_task_slot(r.task, r.slot_limit, r.job, r.lock, daemon);
    end if;
    if waiting = 0 and r.rate_max is not null then
      retry_at := pgmill.take_task_rate(r.task, r.rate_max, r.rate_per);
      if retry_at is not null and r.slot_limit is not null then
        delete from pgmill.task_slots s where s.job_id = r.job;
      end if;
    end if;
    return next;
  end loop;
end;
$$;

-- Gives back the slots of many finished attempts at once (in task order, as
-- above); returns how many waiting jobs it made due now.
create function pgmill.release_task_slots(jobs bigint[]) returns integer
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  released bigint;
  woken integer := 0;
begin
  perform pgmill.commit_without_flush();
  for released in
    select s.job_id from pgmill.task_slots s where s.job_id = any(jobs) order by s.task, s.job_id
  loop
    woken := woken + pgmill.release_task_slot(released);
  end loop;
  return woken;
end;
$$;

revoke execute on function pgmill.commit_without_flush() from public;
revoke execute on function pgmill.lock_task_slots(text) from public;
revoke execute on function pgmill.wake_task_slot_waiters(text, integer) from public;
revoke execute on function pgmill.take_task_slot(text, integer, bigint, text, text) from public;
revoke execute on function pgmill.release_task_slot(bigint) from public;
revoke execute on function pgmill.take_task_limits(text[], integer[], bigint[], text[], text, integer[], double precision[]) from public;
revoke execute on function pgmill.release_task_slots(bigint[]) from public;
revoke execute on function pgmill.release_daemon_task_slots(text[]) from public;
revoke execute on function pgmill.take_task_rate(text, integer, double precision) from public;

-- Daemons take and release slots and rate starts (the functions run as the
-- caller, so they need the tables too); the CLI's status reads them.
create function pgmill.grant_runtime_part_limits(runtime_role name) returns void
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
  execute format('grant select, insert, update, delete on pgmill.task_slots, pgmill.task_slot_waiters, pgmill.task_rate_windows to %I',
                 runtime_role);
  execute format('grant select on pgmill.live_task_slots to %I', runtime_role);
  execute format('grant execute on function pgmill.commit_without_flush(), pgmill.lock_task_slots(text), pgmill.wake_task_slot_waiters(text, integer), '
                 'pgmill.take_task_slot(text, integer, bigint, text, text), pgmill.release_task_slot(bigint), '
                 'pgmill.release_daemon_task_slots(text[]), pgmill.take_task_rate(text, integer, double precision), '
                 'pgmill.take_task_limits(text[], integer[], bigint[], text[], text, integer[], double precision[]), '
                 'pgmill.release_task_slots(bigint[]) to %I',
                 runtime_role);
end;
$$;

revoke execute on function pgmill.grant_runtime_part_limits(name) from public;
