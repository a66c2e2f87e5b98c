// While migrations/current.sql holds work in progress, the harness applies it on top of the
// committed migrations, so unfinished tables are tested too; files comparing the schema with
// committed files clone a copy taken before it ran. Run here on templates of this file's own,
// from a migrations folder whose current.sql creates a table.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import t from 'tap';
import { holdsWorkInProgress, MIGRATIONS_DIR } from '../../src/db/migrate.ts';
import { withClient, withDatabase } from '../../src/db/setup.ts';
import { serverUrl } from '../helpers/db.ts';
import { buildTestTemplates, dropDatabase } from '../helpers/template.ts';

t.test('what counts as work in progress', async (t) => {
  const empty = ['', '\n  \n', '-- Enter migration here\n', '--! split: 0300-rooms\n-- Rooms, later.\n\n', '/* a block\n   comment */\n-- and a line\n'];
  for (const sql of empty) t.equal(holdsWorkInProgress(sql), false, `comments and blank lines only: ${JSON.stringify(sql)}`);
  const work = ['create table app_public.rooms (id int);', '-- Enter migration here\nselect 1; -- one statement\n', '/* c */ drop table x;'];
  for (const sql of work) t.equal(holdsWorkInProgress(sql), true, `a statement: ${JSON.stringify(sql)}`);
});

/** What a sealed template holds, read from a throwaway clone of it (nobody connects to a template). */
async function inspect(server: string, template: string) {
  const clone = `clinicbase_inspect_${randomBytes(4).toString('hex')}`;
  await withClient(server, (c) => c.query(`create database ${pg.escapeIdentifier(clone)} template ${pg.escapeIdentifier(template)}`));
  try {
    return await withClient(withDatabase(server, clone), async (c) => {
      const {
        rows: [row],
      } = await c.query<{ owner: string | null; committed: number; current: string | null }>(
        `select (select pg_get_userbyid(relowner)::text from pg_class where oid = to_regclass('app_public.wip_probe')) as owner,
                (select count(*)::int from graphile_migrate.migrations) as committed,
                (select content from graphile_migrate.current) as current`,
      );
      return row!;
    });
  } finally {
    await dropDatabase(server, clone);
  }
}

t.test('current.sql with a table in it: the template has the table, the committed copy has not', async (t) => {
  const folder = await mkdtemp(path.join(tmpdir(), 'clinicbase-migrations-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  await symlink(path.join(MIGRATIONS_DIR, 'committed'), path.join(folder, 'committed'));
  await writeFile(path.join(folder, 'current.sql'), '-- Work in progress.\ncreate table app_public.wip_probe (id int primary key);\n');

  const server = serverUrl();
  const suffix = randomBytes(4).toString('hex');
  const names = { template: `clinicbase_tpl_${suffix}`, committedTemplate: `clinicbase_tplc_${suffix}` };
  t.teardown(async () => {
    await dropDatabase(server, names.template);
    await dropDatabase(server, names.committedTemplate);
  });
  const lines: string[] = [];
  const built = await buildTestTemplates({ serverUrl: server, ...names, migrationsFolder: folder, log: (line) => lines.push(line) });
  t.same(built, { ...names, workInProgress: true });

  const template = await inspect(server, names.template);
  const committed = await inspect(server, names.committedTemplate);
  t.equal(template.owner, 'app_owner', 'the template has the unfinished table, owned by app_owner like every migrated object');
  t.equal(committed.owner, null, 'the committed copy has not');
  t.equal(template.committed, committed.committed, 'both ran the same committed migrations');
  t.ok(template.committed >= 4, 'all of them');
  t.match(template.current, /create table app_public\.wip_probe/, 'graphile-migrate recorded the current migration it ran, as `watch --once` does');
  t.equal(committed.current, null);
  t.same(
    lines.filter((line) => line.startsWith('migrate ')),
    [],
    'no graphile-migrate warnings or errors',
  );
});
