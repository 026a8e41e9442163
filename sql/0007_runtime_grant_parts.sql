-- Later features grant the runtime role their own tables and functions. Each
-- does so in a function of its own, pgmill.grant_runtime_part_<feature>(role),
-- created in its migration; grant_runtime runs the grants of 0004/0006 and then
-- every part in name order, so no migration has to restate (or clobber) the
-- grants of another, and refresh_runtime_grants re-applies them all.
alter function pgmill.grant_runtime(name) rename to grant_runtime_base;

create function pgmill.grant_runtime(runtime_role name) returns void
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
  part name;
begin
  perform pgmill.grant_runtime_base(runtime_role);
  for part in
    select p.proname
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'pgmill' and p.proname like 'grant\_runtime\_part\_%'
     order by p.proname
  loop
    execute format('select pgmill.%I($1)', part) using runtime_role;
  end loop;
end;
$$;

revoke execute on function pgmill.grant_runtime(name) from public;
