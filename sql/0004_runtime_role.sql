-- Least-privilege deployments: an owner role runs the migrations (and owns
-- every object); daemons connect as a runtime role that can claim, run and
-- record jobs but cannot change the schema. The owner grants a runtime role
-- once with `select pgmill.grant_runtime('role')` (or `pgmill migrate
-- --grant-runtime role`); later migrations re-apply the grants to every role
-- granted so far (src/db/migrate.ts), so upgrades keep it working.

-- Partition upkeep is DDL, which the daemon does hourly (src/ledger/retention.ts).
-- These now run as their owner (security definer) with a pinned search_path,
-- only for roles granted them, and within bounds: a runtime role can neither
-- create tables without limit nor drop recent history.
create or replace function pgmill.ensure_job_runs_partitions(days_ahead integer default 7) returns integer
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  today date := (now() at time zone 'UTC')::date;
  created integer := 0;
begin
  if days_ahead is null or days_ahead not between 0 and 31 then
    raise exception 'days_ahead must be between 0 and 31, got %', days_ahead using errcode = 'invalid_parameter_value';
  end if;
  for offset_days in -1..days_ahead loop
    if pgmill.create_job_runs_partition(today + offset_days) then
      created := created + 1;
    end if;
  end loop;
  return created;
end;
$$;

create or replace function pgmill.drop_job_runs_partitions(older_than interval) returns integer
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  cutoff timestamptz;
  partition_name text;
  dropped integer := 0;
begin
  if older_than is null or older_than < interval '1 day' then
    raise exception 'older_than must be at least 1 day, got %', older_than using errcode = 'invalid_parameter_value';
  end if;
  cutoff := now() - older_than;
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

revoke execute on function pgmill.ensure_job_runs_partitions(integer) from public;
revoke execute on function pgmill.drop_job_runs_partitions(interval) from public;
revoke execute on function pgmill.create_job_runs_partition(date) from public;

-- The roles granted so far, so a migration can grant them what it adds.
create table pgmill.runtime_roles (
  role_name  name primary key,
  granted_at timestamptz not null default now()
);

comment on table pgmill.runtime_roles is
  'Roles granted pgmill''s runtime privileges with pgmill.grant_runtime; migrations re-apply the grants to each.';

-- Grants `runtime_role` what a daemon needs, and nothing that changes the
-- schema: no CREATE on any schema, no ownership. Run it as the owner of the
-- schemas (the role that ran the migrations) or a superuser. Idempotent.
create function pgmill.grant_runtime(runtime_role name) returns void
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  owner_role name := (select nspowner::regrole::name from pg_namespace where nspname = 'pgmill');
  policy_name name := left('pgmill_runtime_' || runtime_role, 63);
  private_table name;
begin
  if not exists (select 1 from pg_roles where rolname = runtime_role) then
    raise exception 'role % does not exist: create it first (create role % login password ...)', runtime_role, runtime_role
      using errcode = 'undefined_object';
  end if;
  if pg_has_role(runtime_role, owner_role, 'usage') then
    raise exception 'role % owns (or acts as %, the owner of) pgmill''s schema: a runtime role must be a separate role',
      runtime_role, owner_role using errcode = 'invalid_grant_operation';
  end if;
  insert into pgmill.runtime_roles (role_name) values (runtime_role) on conflict do nothing;

  execute format('grant usage on schema graphile_worker, pgmill to %I', runtime_role);

  -- graphile-worker's worker claims, completes, fails and releases jobs in its
  -- _private_* tables with its own SQL, registers task names and cron runs
  -- there, and reads its migrations table at start-up. Default privileges
  -- cover tables its future migrations create (the owner runs those).
  execute format('grant select, insert, update, delete on all tables in schema graphile_worker to %I', runtime_role);
  execute format('revoke insert, update, delete on graphile_worker.migrations from %I', runtime_role);
  execute format('alter default privileges for role %I in schema graphile_worker grant select, insert, update, delete on tables to %I',
    owner_role, runtime_role);
  -- graphile-worker enables row level security on its tables without
  -- policies, so only their owner sees rows; let the runtime role see them all.
  for private_table in
    select c.relname
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'graphile_worker' and c.relkind in ('r', 'p') and c.relrowsecurity
  loop
    if not exists (
      select 1 from pg_policies p
       where p.schemaname = 'graphile_worker' and p.tablename = private_table and p.policyname = policy_name
    ) then
      execute format('create policy %I on graphile_worker.%I to %I using (true) with check (true)',
        policy_name, private_table, runtime_role);
    end if;
  end loop;

  -- pgmill: history is append-only for the daemon (retention goes through the
  -- functions above); dead letters are moved, retried and purged; daemons
  -- register, heartbeat and reap each other.
  execute format('grant select, insert on pgmill.job_runs to %I', runtime_role);
  execute format('grant select, insert, update, delete on pgmill.dead_letters, pgmill.daemons to %I', runtime_role);
  execute format('grant select on pgmill.migrations, pgmill.migrations_lock, pgmill.runtime_roles, '
    'pgmill.task_stats, pgmill.recent_failures to %I', runtime_role);
  execute format('grant execute on function pgmill.ensure_job_runs_partitions(integer), '
    'pgmill.drop_job_runs_partitions(interval) to %I', runtime_role);

  if has_database_privilege(runtime_role, current_database(), 'create')
     or (to_regnamespace('public') is not null and has_schema_privilege(runtime_role, 'public', 'create')) then
    raise warning 'role % may still create schemas or tables in public: revoke that for a least-privilege runtime role',
      runtime_role;
  end if;
end;
$$;

revoke execute on function pgmill.grant_runtime(name) from public;

-- Re-applies the grants to every runtime role still present; migrate() calls
-- it after applying migrations, as the owner.
create function pgmill.refresh_runtime_grants() returns integer
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  runtime_role name;
  refreshed integer := 0;
begin
  for runtime_role in
    select r.role_name from pgmill.runtime_roles r join pg_roles p on p.rolname = r.role_name order by r.role_name
  loop
    perform pgmill.grant_runtime(runtime_role);
    refreshed := refreshed + 1;
  end loop;
  return refreshed;
end;
$$;

revoke execute on function pgmill.refresh_runtime_grants() from public;
