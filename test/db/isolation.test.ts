// The catalog sweep: every tenant table (found in the catalog, so a new table is covered the
// moment it exists) is checked for cross-clinic reads, writes, moves and references, for
// context-free access, and against the role matrix.
import t from 'tap';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { allViolations, insertFixtureRows, tenantTables } from '../helpers/isolation.ts';

t.test('every tenant table isolates clinics', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const tables = await tenantTables(db);
  const rows = await insertFixtureRows(db, tables, clinics);

  t.ok(tables.some((table) => table.qualified === 'app_public.departments'), 'the sweep finds the tenant tables');
  t.ok(tables.some((table) => table.qualified === 'app_audit.audit_log'), 'the sweep includes tables app_user cannot touch');

  const violations = await allViolations(db, tables, clinics, rows);
  for (const [table, found] of Object.entries(violations)) {
    t.same(found, [], `${table}: clinic A cannot reach clinic B, no context sees nothing, roles get what the matrix says`);
  }
});
