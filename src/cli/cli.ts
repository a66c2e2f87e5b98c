// `npm run cli -- <command>`: operator and ops commands.
//   operator:create --email <e-mail>   a platform operator; the password is read from standard
//                                      input (never from the command line, where ps shows it)
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { passwordProblem } from '../auth/password-policy.ts';
import { hashPassword } from '../auth/passwords.ts';
import { loadConfig } from '../config.ts';
import { prepareDatabase } from '../db/prepare.ts';
import { withClient } from '../db/setup.ts';
import { runCli } from './database.ts';

const USAGE = 'usage: npm run cli -- operator:create --email <e-mail>   (password on standard input)';

runCli(async () => {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { email: { type: 'string' } } });
  if (positionals[0] !== 'operator:create' || !values.email) {
    console.error(USAGE);
    return 2;
  }
  const password = (await text(process.stdin)).replace(/\r?\n$/, '');
  const problem = passwordProblem(password);
  if (problem) {
    console.error(`password ${problem}`);
    return 2;
  }
  const hash = await hashPassword(password);
  const config = loadConfig();
  // Operators are made with the owner's rights: no application role can create one.
  const database = config.database.ownerUrl ? undefined : await prepareDatabase(config, () => {});
  const ownerUrl = config.database.ownerUrl ?? database?.ownerUrl;
  if (!ownerUrl) throw new Error('operator:create needs DATABASE_OWNER_URL (or DATABASE_URL with DATABASE_ROLE_PASSWORD)');
  try {
    const id = await withClient(ownerUrl, async (client) =>
      (await client.query<{ id: string }>('select app_private.create_platform_operator($1, $2) as id', [values.email, hash])).rows[0]!.id,
    );
    console.log(`platform operator ${values.email} created (${id})`);
  } finally {
    await database?.stop();
  }
});
