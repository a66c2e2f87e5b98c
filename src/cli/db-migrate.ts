// `npm run db:migrate`: run committed migrations as app_owner (DATABASE_OWNER_URL, or derived
// from DATABASE_URL), or on the embedded cluster when no database is configured.
import { loadConfig } from '../config.ts';
import { runMigrations } from '../db/migrate.ts';
import { prepareDatabase } from '../db/prepare.ts';
import { runCli } from './database.ts';

runCli(async () => {
  const config = loadConfig();
  const log = (message: string) => console.log(message);
  if (config.database.ownerUrl) {
    await runMigrations(config.database.ownerUrl, log);
  } else if (config.database.embedded) {
    const database = await prepareDatabase(config, log);
    await database.stop();
  } else {
    throw new Error('db:migrate needs DATABASE_OWNER_URL (or DATABASE_URL with DATABASE_ROLE_PASSWORD)');
  }
  log('migrations up to date');
});
