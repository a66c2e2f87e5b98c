// graphile-worker's crontab: the scheduled upkeep (docs/operations.md).
export const CRONTAB = '';
