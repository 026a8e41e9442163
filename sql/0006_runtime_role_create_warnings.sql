-- A runtime role must not create objects, yet before PostgreSQL 15 PUBLIC may
-- create in schema public unless someone revoked it (on 15+ a database may
-- have granted it back, or granted it to the role). 0004 warned without
-- saying what to do; now each way in is named with the statement that closes
-- it, for grant_runtime to raise and `pgmill migrate --grant-runtime` to print.
--
-- Warn, not refuse: migrate() re-applies grant_runtime to every granted role
-- after each migration, so refusing would stop the upgrade of every database
-- that has not revoked it yet. The runtime role still cannot touch pgmill's
-- or graphile-worker's schemas; what it could do is create objects of its own.

-- One row per way `runtime_role` may create objects in this database or its
-- schema public, with the statement (for a superuser or the object's owner to
-- run) that takes it away. No rows: it may create nothing there. Superusers
-- are left out: grant_runtime refuses them (they act as the owner).
create function pgmill.runtime_role_create_privileges(runtime_role name)
returns table (privilege text, fix text)
language sql stable set search_path = pg_catalog, pg_temp as $$
  with
  runtime as (select r.rolname from pg_roles r where r.rolname = runtime_role),
  -- Who should own what the runtime role must not: pgmill's owner, who ran the migrations.
  pgmill_owner as (select n.nspowner::regrole::text as name from pg_namespace n where n.nspname = 'pgmill'),
  public_schema as (select n.nspowner, n.nspacl from pg_namespace n where n.nspname = 'public'),
  this_database as (select d.datname, d.datdba, d.datacl from pg_database d where d.datname = current_database()),
  -- CREATE granted to PUBLIC (grantee 0) or to a role the runtime role acts as;
  -- the owners' own entries are left to the ownership rows below.
  grants as (
    select 'schema public'::text as object, 'create in schema public'::text as what, a.grantee
      from public_schema s cross join lateral aclexplode(coalesce(s.nspacl, acldefault('n', s.nspowner))) a
     where a.privilege_type = 'CREATE' and a.grantee <> s.nspowner
    union all
    select format('database %I', d.datname), format('create schemas in database %I', d.datname), a.grantee
      from this_database d cross join lateral aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
     where a.privilege_type = 'CREATE' and a.grantee <> d.datdba
  )
  select format('%s may %s', case when g.grantee = 0 then 'PUBLIC' else format('%I', pg_get_userbyid(g.grantee)) end, g.what),
         format('revoke create on %s from %s;', g.object,
                case when g.grantee = 0 then 'public' else format('%I', pg_get_userbyid(g.grantee)) end)
    from runtime r, grants g
   where g.grantee = 0 or pg_has_role(r.rolname, g.grantee, 'usage')
  union all
  -- Owning the database (on 15+ that includes schema public, owned by pg_database_owner).
  select format('it acts as %s, the owner of database %I', d.datdba::regrole, d.datname),
         format('alter database %I owner to %s;', d.datname, o.name)
    from runtime r, this_database d, pgmill_owner o
   where pg_has_role(r.rolname, d.datdba, 'usage')
  union all
  -- Owning schema public itself (before 15 a superuser owns it).
  select format('it acts as %s, the owner of schema public', s.nspowner::regrole),
         format('alter schema public owner to %s;', o.name)
    from runtime r, public_schema s, pgmill_owner o
   where s.nspowner is distinct from to_regrole('pg_database_owner')
     and pg_has_role(r.rolname, s.nspowner, 'usage')
$$;

revoke execute on function pgmill.runtime_role_create_privileges(name) from public;

-- As 0004's, but each way the role may still create objects is raised as its
-- own warning, naming the statement to run.
create or replace function pgmill.grant_runtime(runtime_role name) returns void
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  owner_role name := (select nspowner::regrole::name from pg_namespace where nspname = 'pgmill');
  policy_name name := left('pgmill_runtime_' || runtime_role, 63);
  private_table name;
  leak record;
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
  -- partition functions); dead letters are moved, retried and purged; daemons
  -- register, heartbeat and reap each other.
  execute format('grant select, insert on pgmill.job_runs to %I', runtime_role);
  execute format('grant select, insert, update, delete on pgmill.dead_letters, pgmill.daemons to %I', runtime_role);
  execute format('grant select on pgmill.migrations, pgmill.migrations_lock, pgmill.runtime_roles, '
    'pgmill.task_stats, pgmill.recent_failures to %I', runtime_role);
  execute format('grant execute on function pgmill.ensure_job_runs_partitions(integer), '
    'pgmill.drop_job_runs_partitions(interval) to %I', runtime_role);

  for leak in select * from pgmill.runtime_role_create_privileges(runtime_role) loop
    raise warning 'runtime role % can create objects: %. To stop that, run as a superuser (or the object''s owner): %',
      runtime_role, leak.privilege, leak.fix;
  end loop;
end;
$$;
