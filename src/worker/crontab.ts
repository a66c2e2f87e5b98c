// The worker's schedule, in graphile-worker's crontab format (minute hour day month weekday, then
// the task and its options). Every worker runs it; graphile-worker records each fired slot, so
// several workers queue each run once. `fill`: after an outage, the slots missed within that
// period are queued at start; the job key makes a backfill and the current slot one job.
export const CRONTAB = `
# Hourly: one clinics__upkeep job per active clinic (no-shows, stale visits, missed follow-ups, retention purge).
5 * * * * clinics__upkeep_fan_out ?fill=2h&max=5&jobKey=clinics__upkeep_fan_out
# Hourly: expired invitations, password resets, refresh tokens, login lockouts and ended-session stamps.
35 * * * * accounts__upkeep ?fill=2h&max=5&jobKey=accounts__upkeep
`;
