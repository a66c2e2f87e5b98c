-- Enter migration here
-- section ops begin
-- The queue's figures per task, for the API's health (`GET /health/worker`, as app_user in no
-- clinic) and `npm run cli -- jobs:list` (as the owner). The queue's tables are app_worker's and
-- under RLS without policies, so a reader that is not their owner goes through this definer:
-- counts and times only, never a payload, key or error. A job is in one state:
--   locked   a worker took it (running, or its worker died: jobs:unlock);
--   failed   its attempts are spent: it stays until retried or cancelled;
--   due      its time has come: the next free worker takes it;
--   waiting  its run_at is in the future (a reminder, a retry after backoff).
-- Written in PL/pgSQL: graphile-worker's migrations run after these, so its view does not exist yet
-- when this function is created (a SQL function's body would be checked against it).
create function app_hidden.job_queue_figures()
returns table (task text, waiting bigint, due bigint, locked bigint, failed bigint, oldest_due_at timestamptz)
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
as $$
begin
  return query
  select j.task_identifier,
         count(*) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at > now()),
         count(*) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now()),
         count(*) filter (where j.locked_at is not null),
         count(*) filter (where j.locked_at is null and j.attempts >= j.max_attempts),
         min(j.run_at) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now())
  from graphile_worker.jobs j
  group by j.task_identifier
  order by j.task_identifier;
end;
$$;
revoke all on function app_hidden.job_queue_figures() from public;
grant execute on function app_hidden.job_queue_figures() to app_user;
comment on function app_hidden.job_queue_figures() is '@behavior -*
The job queue per task: jobs waiting (future run_at), due, locked by a worker, failed for good, and the oldest due job''s run_at. Counts only: no payload, key or error.';
-- section ops end
