-- Daemons register here and heartbeat. A live daemon that finds a peer silent
-- past PGMILL_DEAD_AFTER marks it dead and releases its jobs (see
-- src/daemon/reaper.ts), so a kill -9 strands nothing for graphile-worker's
-- four-hour lock timeout.

create table pgmill.daemons (
  id              text primary key,
  host            text not null,
  pid             integer not null,
  version         text not null,
  started_at      timestamptz not null default now(),
  last_seen       timestamptz not null default now(),
  -- every graphile-worker pool and worker id this daemon has locked jobs with
  worker_ids      text[] not null default '{}',
  state           text not null check (state in ('starting', 'running', 'draining', 'stopped', 'dead')),
  jobs_in_flight  integer not null default 0,
  reaped_by       text,
  reaped_at       timestamptz
);

comment on table pgmill.daemons is
  'pgmill daemons and their heartbeats; state dead means a peer reaped it and released its jobs.';

create index daemons_live_idx on pgmill.daemons (last_seen) where state not in ('stopped', 'dead');
