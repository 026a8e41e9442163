-- The app's own table, which the send-reminder task writes. Your migrations
-- tool owns tables like this one; pgmill only owns its own two schemas.
create table if not exists reminders_sent (
  id         bigint generated always as identity primary key,
  recipient  text not null,
  message    text not null,
  job_id     bigint not null,
  sent_at    timestamptz not null default now(),
  -- A retried job must not send twice: one row per job.
  unique (job_id)
);
