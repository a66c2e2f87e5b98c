// policies/ must say exactly what the migrated database enforces.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { renderPolicyFiles } from '../../src/db/policies.ts';
import { createTestDatabase } from '../helpers/db.ts';

const POLICIES_DIR = path.resolve(import.meta.dirname, '../../policies');

t.test('policies/ matches the database', async (t) => {
  const db = await createTestDatabase(t, { committedOnly: true });
  const expected = await renderPolicyFiles(db.admin);
  const committed = (await readdir(POLICIES_DIR)).filter((f) => f.endsWith('.sql')).sort();
  t.same(committed, [...expected.keys()].sort(), 'one file per table, no stale files (run `npm run policies:generate`)');
  for (const [name, content] of expected) {
    const onDisk = await readFile(path.join(POLICIES_DIR, name), 'utf8').catch(() => '');
    t.equal(onDisk, content, `${name} is current (run \`npm run policies:generate\`)`);
  }
});

t.test('a policy change the files do not show is detected', async (t) => {
  const db = await createTestDatabase(t, { committedOnly: true });
  await db.admin.query('alter policy select_members on app_public.departments using (is_active)');
  const changed = await renderPolicyFiles(db.admin);
  const onDisk = await readFile(path.join(POLICIES_DIR, 'app_public.departments.sql'), 'utf8');
  t.not(changed.get('app_public.departments.sql'), onDisk);
});

t.test('the restrictive tenant_isolation policy is the first policy of every file that has one', async (t) => {
  const withBoundary: string[] = [];
  for (const name of (await readdir(POLICIES_DIR)).filter((f) => f.endsWith('.sql'))) {
    const policies = [...(await readFile(path.join(POLICIES_DIR, name), 'utf8')).matchAll(/^create policy (\w+) on /gm)].map((m) => m[1]);
    if (!policies.includes('tenant_isolation')) continue;
    withBoundary.push(name);
    t.equal(policies[0], 'tenant_isolation', `${name} lists tenant_isolation first`);
  }
  t.ok(withBoundary.includes('app_public.departments.sql'), 'the check saw the tenant tables');
});
