// The tenant-table template in migrations/README.md is run as written: the audit passes it and
// the isolation sweep (references included) holds, on the new table and on the department it
// references (whose fixture row can no longer be deleted). The same table with a single-column
// reference is caught by both: the sweep links clinic A's row to clinic B's department. The
// template's table is renamed on the way (`rooms` → `readme_rooms`), so that a real table built
// from it under its example name does not collide with it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { readAudit } from '../../src/db/audit.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { allViolations, insertFixtureRows, isolationViolations, tenantTables } from '../helpers/isolation.ts';
import { MATRIX } from '../helpers/matrix.ts';

const README = path.resolve(import.meta.dirname, '../../migrations/README.md');

/** The template's SQL block, its table (`app_public.rooms`, and the `rooms_…` names of its constraints and indexes) renamed to `table`. */
async function templateSql(table: string): Promise<string> {
  const text = await readFile(README, 'utf8');
  const section = text.slice(text.indexOf('## The tenant-table template'));
  const match = /```sql\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('no sql block under "The tenant-table template" in migrations/README.md');
  return match[1]!.replaceAll('app_public.rooms', `app_public.${table}`).replaceAll(/\brooms_/g, `${table}_`);
}

let serial = 0;
function register(table: string): void {
  FIXTURES[table] = ({ idOf }) => ({ code: `R${++serial}`, name: `Room ${serial}`, department_id: idOf('app_public.departments') });
  // The template's comment: every member reads, only clinic admins change.
  MATRIX[table] = {
    clinic_admin: 'select insert update delete',
    doctor: 'select',
    nurse: 'select',
    receptionist: 'select',
    lab_technician: 'select',
    patient: 'select',
  };
}

t.test('the template as written', async (t) => {
  const db = await createTestDatabase(t);
  const sql = await templateSql('readme_rooms');
  t.match(sql, /^create table app_public\.readme_rooms \(/m, 'the template creates app_public.rooms (renamed here)');
  await db.admin.query(sql);
  register('app_public.readme_rooms');
  const audit = await readAudit(db.admin);
  t.same(audit.find((r) => r.object_name === 'app_public.readme_rooms')?.problems, [], 'the audit passes the template table');

  const clinics = await createClinics(db);
  const tables = await tenantTables(db);
  const rooms = tables.find((table) => table.qualified === 'app_public.readme_rooms');
  t.same(rooms?.references, [{ columns: ['department_id'], targetColumns: ['id'], target: 'app_public.departments' }], 'its reference is found in the catalog');
  const violations = await allViolations(db, tables, clinics, await insertFixtureRows(db, tables, clinics));
  t.same(violations['app_public.readme_rooms'], [], 'isolation, references and the matrix hold');
  for (const [table, found] of Object.entries(violations)) {
    t.same(found, [], `${table}: the sweep holds with a table referencing it`);
  }
});

t.test('the same table with a single-column reference', async (t) => {
  const db = await createTestDatabase(t);
  const leaky = (await templateSql('leaky_rooms')).replace(
    /foreign key \(clinic_id, department_id\)\s+references app_public\.departments \(clinic_id, id\)/,
    'foreign key (department_id) references app_public.departments (id)',
  );
  t.match(leaky, /foreign key \(department_id\) references app_public\.departments \(id\)/, 'the reference was rewritten');
  await db.admin.query('create unique index departments_id_key on app_public.departments (id)');
  await db.admin.query(leaky);
  register('app_public.leaky_rooms');

  const problems = (await readAudit(db.admin)).find((r) => r.object_name === 'app_public.leaky_rooms')?.problems ?? [];
  t.ok(
    problems.some((p) => p.startsWith('foreign key leaky_rooms_department_id_fkey references tenant table')),
    'the audit flags the reference',
    { problems },
  );

  const clinics = await createClinics(db);
  const tables = await tenantTables(db);
  const rows = await insertFixtureRows(db, tables, clinics);
  const table = tables.find((candidate) => candidate.qualified === 'app_public.leaky_rooms')!;
  t.same(
    await isolationViolations(db, table, clinics, rows),
    ["insert: clinic A referenced clinic B's app_public.departments row"],
    'the sweep shows the cross-clinic link it allows',
  );
});
