// The catalog sweep: every tenant table (found in the catalog, so a new table is covered the
// moment it exists) is checked for cross-clinic reads, writes, moves and references, for
// context-free access, and against the role matrix written out in test/helpers/matrix.ts. The
// route guards' matrix (PERMISSIONS) is held to that same literal table, so changing the
// policies, PERMISSIONS or both without the tests' table turns this file red.
import t from 'tap';
import { PERMISSIONS } from '../../src/auth/permissions.ts';
import { CLINIC_ROLES } from '../../src/db/tenant.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { allViolations, insertFixtureRows, tenantTables } from '../helpers/isolation.ts';
import { MATRIX, mayRun, ROLES } from '../helpers/matrix.ts';

t.test('every tenant table isolates clinics', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const tables = await tenantTables(db);
  const rows = await insertFixtureRows(db, tables, clinics);

  t.ok(
    tables.some((table) => table.qualified === 'app_public.departments'),
    'the sweep finds the tenant tables',
  );
  t.ok(
    tables.some((table) => table.qualified === 'app_audit.audit_log'),
    'the sweep includes tables app_user cannot touch',
  );
  for (const table of Object.keys(MATRIX))
    t.ok(
      tables.some((found) => found.qualified === table),
      `${table} of the matrix exists`,
    );

  const violations = await allViolations(db, tables, clinics, rows);
  for (const [table, found] of Object.entries(violations)) {
    t.same(found, [], `${table}: clinic A cannot reach clinic B, no context sees nothing, roles get what the matrix says`);
  }
});

t.test('the route guards read the matrix the tests expect', async (t) => {
  t.same([...CLINIC_ROLES], [...ROLES], 'the clinic roles are the ones the literal matrix lists');
  t.same(Object.keys(PERMISSIONS).sort(), Object.keys(MATRIX).sort(), 'PERMISSIONS covers the tables of the literal matrix, no more');
  for (const table of Object.keys(MATRIX)) {
    for (const command of ['select', 'insert', 'update', 'delete'] as const) {
      const expected = ROLES.filter((role) => mayRun(table, role, command));
      t.same([...(PERMISSIONS[table]?.[command] ?? [])].sort(), [...expected].sort(), `${table} ${command}: ${expected.join(', ') || 'nobody'}`);
    }
  }
});
