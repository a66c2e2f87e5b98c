// `npm run db:setup`: roles (idempotent), database grants, migrations. With DATABASE_URL (a
// superuser on a development server) it sets up that database; without, the embedded cluster.
import { loadConfig } from '../config.ts';
import { prepareDatabase } from '../db/prepare.ts';
import { redactUrl, setupDatabase } from '../db/setup.ts';
import { runCli } from './database.ts';

runCli(async () => {
  const config = loadConfig();
  const log = (message: string) => console.log(message);
  if (config.database.adminUrl) {
    log(`setting up ${redactUrl(config.database.adminUrl)}`);
    await setupDatabase({ adminUrl: config.database.adminUrl, rolePassword: config.database.rolePassword, log });
  } else if (config.database.embedded) {
    const database = await prepareDatabase(config, log);
    await database.stop();
  } else {
    throw new Error('db:setup needs DATABASE_URL (a superuser URL); production apps then use DATABASE_AUTHENTICATOR_URL');
  }
  log('database ready');
});
