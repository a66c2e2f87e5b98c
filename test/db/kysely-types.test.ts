// src/db/types.ts must be what `npm run db:types` generates from the committed migrations:
// camel-cased, as the CamelCasePlugin of withTenant's Kysely presents the database.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { renderKyselyTypes } from '../../src/cli/db-types.ts';
import { createTestDatabase } from '../helpers/db.ts';

const TYPES_FILE = path.resolve(import.meta.dirname, '../../src/db/types.ts');

t.test('src/db/types.ts matches the migrated database', async (t) => {
  const db = await createTestDatabase(t, { committedOnly: true });
  const onDisk = await readFile(TYPES_FILE, 'utf8');
  t.equal(onDisk, await renderKyselyTypes(db.adminUrl), 'src/db/types.ts is current (run `npm run db:types`)');
  t.match(onDisk, /"appPublic\.clinicMembers": AppPublicClinicMembers;/, 'tables are named in camelCase');
  t.match(onDisk, /^ {2}displayName: string;$/m, 'and so are columns');
});
