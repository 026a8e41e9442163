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
-- (status reads this; the takes apply the same rule). A function, not a view:
-- a view would depend on graphile_worker.jobs and block the engine's own
-- migrations from replacing it.
create function pgmill.live_task_slots() returns setof pgmill.task_slots
language sql stable set search_path = pg_catalog, pg_temp as $$
  select s.*
    from pgmill.task_slots s
   where exists (select 1 from graphile_worker.jobs j where j.id = s.job_id and j.locked_by = s.lock_id);
$$;

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
-- concurrent checks, src/controls/limit-batches.ts), set-based per task: one
-- lock, one count and one rate-row update per task however many jobs, one
-- round trip and one commit for all. Per task, in the order given: the jobs
-- locked by the lock that asks take the free slots (when slot_limits is not
-- null) and the rest become waiters; those with a slot (or all, without a
-- concurrency limit) then take rate starts while the window has room (when
-- rate_max is not null), and a slot taken for a job the rate refuses is given
-- back at once. Tasks are handled in name order, so batches lock them in one
-- order and never deadlock. Per job, as the single-job functions answer:
-- waiting 0 (a slot taken, or none asked), > 0 (refused a slot, this many
-- waiting) or null (not locked by its lock: nothing taken); retry_at null, or
-- when the rate lets it try again.
create function pgmill.take_task_limits(
  tasks text[], slot_limits integer[], jobs bigint[], locks text[], daemon text, rate_max integer[], rate_per double precision[]
) returns table (job bigint, waiting integer, retry_at timestamptz)
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  t record;
  mine bigint[];
  slotted bigint[];
  admitted bigint[];
  used integer;
  free integer;
  queued integer;
  win timestamptz;
  rate_row pgmill.task_rate_windows;
  refused_before integer;
  room integer;
begin
  perform pgmill.commit_without_flush();
  for t in
    select u.task, min(u.slot_limit) as slot_limit, min(u.rate_max) as rate_max, min(u.rate_per) as rate_per
      from unnest(tasks, slot_limits, rate_max, rate_per) as u(task, slot_limit, rate_max, rate_per)
     group by u.task
     order by u.task
  loop
    if t.slot_limit is not null and t.slot_limit < 1 then
      raise exception 'take_task_limits: slot_limit must be at least 1 (task %)', t.task using errcode = 'invalid_parameter_value';
    end if;
    if t.rate_max is not null and (t.rate_max < 1 or t.rate_per is null or t.rate_per <= 0) then
      raise exception 'take_task_limits: max_starts must be at least 1 and per_seconds positive (task %)', t.task
        using errcode = 'invalid_parameter_value';
    end if;
    queued := null;
    win := null;
    if t.slot_limit is not null then
      perform pgmill.lock_task_slots(t.task);
    end if;
    select coalesce(array_agg(u.job order by u.n), '{}') into mine
      from unnest(tasks, jobs, locks) with ordinality as u(task, job, lock, n)
     where u.task = t.task
       and exists (select 1 from graphile_worker.jobs j where j.id = u.job and j.locked_by = u.lock);
    slotted := mine;
    if t.slot_limit is not null then
      select count(*) into used from pgmill.task_slots s where s.task = t.task and s.job_id <> all(mine);
      if used + cardinality(mine) > t.slot_limit then
        -- Short of room: first drop the slots whose attempt cannot be running (as take_task_slot does).
        delete from pgmill.task_slots s
         where s.task = t.task
           and not exists (select 1 from graphile_worker.jobs j where j.id = s.job_id and j.locked_by = s.lock_id);
        select count(*) into used from pgmill.task_slots s where s.task = t.task and s.job_id <> all(mine);
      end if;
      free := greatest(0, t.slot_limit - used);
      slotted := mine[1:free];
      insert into pgmill.task_slots (job_id, task, lock_id, daemon_id)
      select u.job, t.task, u.lock, daemon from unnest(jobs, locks) as u(job, lock) where u.job = any(slotted)
      on conflict (job_id) do update set task = excluded.task, lock_id = excluded.lock_id, daemon_id = excluded.daemon_id, taken_at = now();
      delete from pgmill.task_slot_waiters sw where sw.job_id = any(slotted);
      if cardinality(mine) > free then
        insert into pgmill.task_slot_waiters (job_id, task) select x, t.task from unnest(mine[free + 1:]) as x
        on conflict (job_id) do nothing;
        select count(*) into queued from pgmill.task_slot_waiters sw where sw.task = t.task;
      end if;
    end if;
    admitted := slotted;
    if t.rate_max is not null and cardinality(slotted) > 0 then
      win := to_timestamp(floor(extract(epoch from clock_timestamp()) / t.rate_per) * t.rate_per);
      insert into pgmill.task_rate_windows (task, window_start, started, refused) values (t.task, win, 0, 0)
      on conflict (task) do nothing;
      select * into rate_row from pgmill.task_rate_windows r where r.task = t.task for update;
      if rate_row.window_start is distinct from win then
        rate_row.started := 0;
        rate_row.refused := 0;
      end if;
      refused_before := rate_row.refused;
      room := greatest(0, t.rate_max - rate_row.started);
      admitted := slotted[1:room];
      update pgmill.task_rate_windows
         set window_start = win,
             started = rate_row.started + cardinality(admitted),
             refused = rate_row.refused + cardinality(slotted) - cardinality(admitted)
       where task = t.task;
      if t.slot_limit is not null and cardinality(admitted) < cardinality(slotted) then
        delete from pgmill.task_slots s where s.job_id = any(slotted) and s.job_id <> all(admitted);
      end if;
    end if;
    return query
      select u.job,
             case when not (u.job = any(mine)) then null::integer
                  when u.job = any(slotted) then 0
                  else queued end,
             case when u.job = any(slotted) and not (u.job = any(admitted)) then
               win + make_interval(secs => t.rate_per)
                     * (1 + floor((refused_before + array_position(slotted, u.job) - cardinality(admitted) - 1)::double precision / t.rate_max))
             end
        from unnest(tasks, jobs) as u(task, job)
       where u.task = t.task;
  end loop;
end;
$$;

-- Gives back the slots of many finished attempts at once, one lock and one
-- delete per task (in name order, as above), waking as many waiters; returns
-- how many jobs it made due now.
create function pgmill.release_task_slots(jobs bigint[]) returns integer
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  t record;
  freed integer;
  woken integer := 0;
begin
  perform pgmill.commit_without_flush();
  for t in select distinct s.task from pgmill.task_slots s where s.job_id = any(jobs) order by s.task loop
    perform pgmill.lock_task_slots(t.task);
    delete from pgmill.task_slots s where s.task = t.task and s.job_id = any(jobs);
    get diagnostics freed = row_count;
    if freed > 0 and exists (select 1 from pgmill.task_slot_waiters sw where sw.task = t.task) then
      woken := woken + pgmill.wake_task_slot_waiters(t.task, freed);
    end if;
  end loop;
  return woken;
end;
$$;

-- Gives back the slot of a finished attempt and wakes the oldest waiter (one
-- job of release_task_slots, above). Returns how many jobs it made due now.
create function pgmill.release_task_slot(job bigint) returns integer
language sql volatile set search_path = pg_catalog, pg_temp as $$
  select pgmill.release_task_slots(array[job]);
$$;

revoke execute on function pgmill.live_task_slots() from public;
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
  execute format('grant execute on function pgmill.live_task_slots(), pgmill.commit_without_flush(), pgmill.lock_task_slots(text), pgmill.wake_task_slot_waiters(text, integer), '
                 'pgmill.take_task_slot(text, integer, bigint, text, text), pgmill.release_task_slot(bigint), '
                 'pgmill.release_daemon_task_slots(text[]), pgmill.take_task_rate(text, integer, double precision), '
                 'pgmill.take_task_limits(text[], integer[], bigint[], text[], text, integer[], double precision[]), '
                 'pgmill.release_task_slots(bigint[]) to %I',
                 runtime_role);
end;
$$;

revoke execute on function pgmill.grant_runtime_part_limits(name) from public;
