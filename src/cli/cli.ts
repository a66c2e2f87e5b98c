// `npm run cli -- <command>`: operator and ops commands, run with the database owner's rights.
//   operator:create --email <e-mail>
//       a platform operator; the password is read from standard input (never from the command
//       line, where ps shows it)
//   account:two-factor-off --email <e-mail> --reason <text>
//       turns off a person's second factor (lost device and recovery codes), once their identity
//       was checked out of band; audited with the reason
//   outbox:pending --email <e-mail>
//       prints the messages waiting in the notification outbox for that e-mail (invitation and
//       password-reset tokens), one JSON object a line: until notifications are delivered, how a
//       developer or an operator gets them to the person
//   data-key:generate [--file <path>]
//       a new data encryption key line `<keyId>:<base64 key>` for DATA_ENCRYPTION_KEY, printed; with
//       --file, written into that file (mode 0600) unless it exists, for DATA_ENCRYPTION_KEY_FILE
//       (docker-compose.yml's `data-key` one-shot). Needs no database.
//   data-key:reencrypt
//       after a new data encryption key was put first in DATA_ENCRYPTION_KEY: re-encrypts every
//       identification number still under another key, and its look-up hash, clinic by clinic in
//       batches, printing progress; safe to interrupt and run again (docs/operations.md)
//   jobs:list
//       the job queue: jobs waiting, due, locked and failed per task; failures with their attempts
//       and last error; locked jobs with their worker and lock age (ids only, never a payload)
//   jobs:retry <id…>
//       runs those jobs again now with their attempts reset (a failed one, one waiting for its
//       backoff); an unknown or locked id changes nothing
//   jobs:cancel <id…>
//       removes those jobs from the queue (waiting, due or failed; not a running one)
//   jobs:unlock --worker <worker id>
//       frees the jobs a dead worker holds (after a crash or kill -9): they run again at once
//   clinic:import <archive>
//       restores a clinic export (docs/export-format.md) into this deployment, whose database lacks
//       the clinic: checksums verified first, then all or nothing, printing progress. Needs the
//       superuser's DATABASE_URL (triggers are held off while the rows go in). Accounts arrive
//       without a password (the archive carries no credential): people set one with the reset
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { passwordProblem } from '../auth/password-policy.ts';
import { hashPassword } from '../auth/passwords.ts';
import { loadConfig } from '../config.ts';
import { formatDataKey, generateDataKey, loadDataKeys, writeDataKeyOnce } from '../crypto/data-keys.ts';
import { createFieldCipher } from '../crypto/field-encryption.ts';
import type { Client } from '../db/pool.ts';
import { prepareDatabase } from '../db/prepare.ts';
import { withClient } from '../db/setup.ts';
import { reencryptIdentificationNumbers } from '../modules/patients/index.ts';
import { importClinicArchive } from '../exports/restore.ts';
import { LocalDiskStorage } from '../storage/local-disk.ts';
import { runCli } from './database.ts';
import { cancelJobs, isJobId, listJobs, type Print, retryJobs, unlockWorker } from './jobs.ts';

const USAGE = [
  'usage: npm run cli -- operator:create --email <e-mail>   (password on standard input)',
  '       npm run cli -- account:two-factor-off --email <e-mail> --reason <text>',
  '       npm run cli -- outbox:pending --email <e-mail>',
  '       npm run cli -- data-key:generate [--file <path>]',
  '       npm run cli -- data-key:reencrypt',
  '       npm run cli -- jobs:list | jobs:retry <job id…> | jobs:cancel <job id…> | jobs:unlock --worker <worker id>',
  '       npm run cli -- clinic:import <archive>',
].join('\n');

type Options = {
  email?: string | undefined;
  reason?: string | undefined;
  file?: string | undefined;
  worker?: string | undefined;
};
type Work = (client: Client) => Promise<number>;
/**
 * A command: checks its options and arguments (exit code 2 when they are wrong, with the usage),
 * then works as the owner (or as the superuser, when it says so), or is done without a database
 * (its exit code).
 */
type Command = (options: Options, args: string[]) => Promise<number | Work | { superuser: Work }>;

const print: Print = (line) => console.log(line);

/** jobs:retry and jobs:cancel: one job id or more, nothing else. */
const onJobs =
  (act: (owner: Client, ids: string[], print: Print) => Promise<number>): Command =>
  async (_options, ids) => {
    const wrong = ids.filter((id) => !isJobId(id));
    if (wrong.length > 0) console.error(`not a job id: ${wrong.join(', ')}`);
    if (ids.length === 0 || wrong.length > 0) return 2;
    return (owner) => act(owner, ids, print);
  };

const COMMANDS: Record<string, Command> = {
  'operator:create': async ({ email }) => {
    if (!email) return 2;
    const password = (await text(process.stdin)).replace(/\r?\n$/, '');
    const problem = passwordProblem(password);
    if (problem) {
      console.error(`password ${problem}`);
      return 2;
    }
    const hash = await hashPassword(password);
    return async (owner) => {
      const { rows } = await owner.query<{ id: string }>('select app_private.create_platform_operator($1, $2) as id', [email, hash]);
      console.log(`platform operator ${email} created (${rows[0]!.id})`);
      return 0;
    };
  },
  'account:two-factor-off': async ({ email, reason }) => {
    if (!email || !reason?.trim()) return 2;
    return async (owner) => {
      const { rows } = await owner.query<{ id: string | null }>('select app_private.turn_off_two_factor($1, $2) as id', [email, reason]);
      if (!rows[0]?.id) {
        console.error(`no account has the e-mail ${email}`);
        return 1;
      }
      console.log(`second factor of ${email} turned off (${rows[0].id}); they log in with their password and may set it up again`);
      return 0;
    };
  },
  'data-key:generate': async ({ file }) => {
    if (file === undefined) {
      console.log(formatDataKey(generateDataKey()));
      return 0;
    }
    if (!file) return 2;
    const key = await writeDataKeyOnce(file);
    console.log(key ? `data encryption key ${key.id} written to ${file}` : `${file} exists: unchanged`);
    return 0;
  },
  'data-key:reencrypt': async () => {
    // The keys first: without them there is nothing to do, and no database is touched.
    const cipher = createFieldCipher(await loadDataKeys(loadConfig().dataEncryption));
    return async (owner) => {
      await reencryptIdentificationNumbers(owner, cipher, (line) => console.log(line));
      return 0;
    };
  },
  'jobs:list': async (_options, args) => (args.length > 0 ? 2 : (owner) => listJobs(owner, print).then(() => 0)),
  'jobs:retry': onJobs(retryJobs),
  'jobs:cancel': onJobs(cancelJobs),
  'jobs:unlock': async ({ worker }, args) => (!worker?.trim() || args.length > 0 ? 2 : (owner) => unlockWorker(owner, worker, print)),
  'clinic:import': async (_options, args) => {
    const [archive, ...rest] = args;
    if (!archive || rest.length > 0) return 2;
    const storage = await LocalDiskStorage.open(loadConfig().storageDir);
    return {
      superuser: async (admin) => {
        await importClinicArchive(admin, storage, archive, (line) => console.log(line));
        return 0;
      },
    };
  },
  'outbox:pending': async ({ email }) => {
    if (!email) return 2;
    return async (owner) => {
      const { rows } = await owner.query(
        `select id, kind, recipient, payload, created_at as "createdAt" from app_private.notification_outbox
         where lower(recipient) = lower($1) and sent_at is null order by id`,
        [email],
      );
      for (const row of rows) console.log(JSON.stringify(row));
      if (rows.length === 0) console.error(`no pending message for ${email}`);
      return 0;
    };
  },
};

runCli(async () => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      reason: { type: 'string' },
      file: { type: 'string' },
      worker: { type: 'string' },
    },
  });
  const [name = '', ...args] = positionals;
  const command = COMMANDS[name];
  const work = command ? await command(values, args) : 2;
  if (typeof work === 'number') {
    if (work === 2) console.error(USAGE);
    return work;
  }
  const config = loadConfig();
  if (typeof work === 'object') {
    // Only the superuser may hold triggers off (session_replication_role); never the embedded default.
    if (!config.database.adminUrl) throw new Error(`${positionals[0]} needs DATABASE_URL: a superuser's URL of the target database`);
    return withClient(config.database.adminUrl, work.superuser);
  }
  // No application role can do these: they need the owner's rights.
  const database = config.database.ownerUrl ? undefined : await prepareDatabase(config, () => {});
  const ownerUrl = config.database.ownerUrl ?? database?.ownerUrl;
  if (!ownerUrl) throw new Error(`${name} needs DATABASE_OWNER_URL (or DATABASE_URL with DATABASE_ROLE_PASSWORD)`);
  try {
    return await withClient(ownerUrl, work);
  } finally {
    await database?.stop();
  }
});
