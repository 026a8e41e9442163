-- Issue 12, crontab controls: pause and resume a line, run a line now, the
-- overlap policy's skips, and pgmill's own scheduler for `@every` lines.

-- The crontab lines the daemons run, as they parsed them: each daemon replaces
-- the set on start and on every reload (last writer wins when daemons disagree),
-- so run_cron_now can enqueue a line's job from SQL alone. `options` holds
-- add_job's options (queueName, maxAttempts, priority, jobKey, jobKeyMode).
create table pgmill.cron_lines (
  identifier   text primary key,
  task         text not null,
  payload      jsonb not null default '{}',
  options      jsonb not null default '{}',
  schedule     text not null,
  timezone     text,
  overlap      text not null default 'allow' check (overlap in ('allow', 'skip')),
  last_tick_at timestamptz,           -- the last tick enqueued by the schedule
  next_tick_at timestamptz,
  last_manual_run_at timestamptz,     -- the last run_cron_now
  published_by text not null,
  published_at timestamptz not null default now()
);

comment on table pgmill.cron_lines is
  'The crontab lines the daemons last loaded (written on start and reload); run_cron_now and status read it.';

-- Pause windows, kept apart from cron_lines so a pause survives reloads. The
-- windows stay after a resume: graphile-worker's backfill (?fill=) walks past
-- minutes at a daemon's start, and a tick inside any window must not be filled.
create table pgmill.cron_pauses (
  id          bigint generated always as identity primary key,
  identifier  text not null,
  paused_at   timestamptz not null default now(),
  resumed_at  timestamptz,
  check (resumed_at is null or resumed_at >= paused_at)
);
-- At most one open pause per line.
create unique index cron_pauses_open on pgmill.cron_pauses (identifier) where resumed_at is null;

-- `@every` lines: the last tick enqueued (or skipped) per line. Daemons advance
-- it with a conditional update in the transaction that adds the tick's job, so
-- each tick is enqueued once however many daemons run.
create table pgmill.cron_every_ticks (
  identifier text primary key,
  last_tick  timestamptz not null
);

-- Ticks skipped by `?overlap=skip`, one row per tick: the primary key makes the
-- daemon whose insert lands the one that counts and logs the skip.
create table pgmill.cron_overlap_skips (
  identifier text not null,
  tick       timestamptz not null,
  primary key (identifier, tick)
);

create function pgmill.known_cron_lines() returns text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce(nullif(string_agg(identifier, ', ' order by identifier), ''), 'none')
    from pgmill.cron_lines;
$$;

-- Pauses a line: no tick of it is enqueued (nor backfilled later) until
-- resume_cron. Returns when the pause began (the earlier one if already paused).
create function pgmill.pause_cron(line_id text) returns timestamptz
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  since timestamptz;
begin
  if not exists (select 1 from pgmill.cron_lines where identifier = line_id) then
    raise exception 'unknown crontab line id "%" (known: %)', line_id, pgmill.known_cron_lines()
      using errcode = 'no_data_found';
  end if;
  insert into pgmill.cron_pauses (identifier) values (line_id)
    on conflict (identifier) where resumed_at is null do nothing
    returning paused_at into since;
  if since is null then
    select paused_at into since from pgmill.cron_pauses where identifier = line_id and resumed_at is null;
  end if;
  return since;
end;
$$;

-- Resumes a paused line from its next tick; the ticks it missed stay missed.
-- Returns false if the line was not paused.
create function pgmill.resume_cron(line_id text) returns boolean
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
begin
  update pgmill.cron_pauses set resumed_at = now() where identifier = line_id and resumed_at is null;
  if found then
    return true;
  end if;
  if not exists (select 1 from pgmill.cron_lines where identifier = line_id) then
    raise exception 'unknown crontab line id "%" (known: %)', line_id, pgmill.known_cron_lines()
      using errcode = 'no_data_found';
  end if;
  return false;
end;
$$;

-- Enqueues the line's job now, with its payload and options; the handler sees
-- job.cron = { ts, backfilled: false, manual: true }. A paused line runs too (the
-- operator asked). A line with overlap=skip shares its job key, so while its
-- previous run is queued or running that job's id comes back instead.
create function pgmill.run_cron_now(line_id text) returns bigint
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  line pgmill.cron_lines;
  job_id bigint;
begin
  select * into line from pgmill.cron_lines where identifier = line_id;
  if not found then
    raise exception 'unknown crontab line id "%" (known: %)', line_id, pgmill.known_cron_lines()
      using errcode = 'no_data_found';
  end if;
  select (graphile_worker.add_job(
    line.task,
    (line.payload || jsonb_build_object('_cron', jsonb_build_object(
      'ts', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'backfilled', false, 'manual', true)))::json,
    queue_name => line.options->>'queueName',
    max_attempts => (line.options->>'maxAttempts')::integer,
    job_key => line.options->>'jobKey',
    priority => (line.options->>'priority')::integer,
    job_key_mode => coalesce(line.options->>'jobKeyMode', 'replace')
  )).id into job_id;
  update pgmill.cron_lines set last_manual_run_at = now() where identifier = line_id;
  return job_id;
end;
$$;

revoke execute on function pgmill.known_cron_lines() from public;
revoke execute on function pgmill.pause_cron(text) from public;
revoke execute on function pgmill.resume_cron(text) from public;
revoke execute on function pgmill.run_cron_now(text) from public;

-- Daemons publish lines, read pauses, advance @every ticks and record skips;
-- the CLI pauses, resumes and runs lines through the functions above.
create function pgmill.grant_runtime_part_cron(runtime_role name) returns void
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
begin
  execute format('grant select, insert, update, delete on pgmill.cron_lines to %I', runtime_role);
  execute format('grant select on pgmill.cron_pauses to %I', runtime_role);
  execute format('grant select, insert, update on pgmill.cron_every_ticks to %I', runtime_role);
  execute format('grant select, insert, delete on pgmill.cron_overlap_skips to %I', runtime_role);
  execute format('grant execute on function pgmill.pause_cron(text), pgmill.resume_cron(text), '
    'pgmill.run_cron_now(text) to %I', runtime_role);
end;
$$;

revoke execute on function pgmill.grant_runtime_part_cron(name) from public;
