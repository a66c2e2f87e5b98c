// Mutation check: loosen each policy in turn to `true` and prove that the isolation checks
// notice. A policy whose loosening no check notices is either redundant or untested.
import t from 'tap';
import pg from 'pg';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { allViolations, insertFixtureRows, tenantTables } from '../helpers/isolation.ts';

t.test('loosening any policy is caught by the isolation checks', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const tables = await tenantTables(db);
  const rows = await insertFixtureRows(db, tables, clinics);

  const { rows: policies } = await db.admin.query<{ name: string; table: string; using: string | null; check: string | null }>(`
    select pol.polname as name, pol.polrelid::regclass::text as table,
           pg_get_expr(pol.polqual, pol.polrelid) as using, pg_get_expr(pol.polwithcheck, pol.polrelid) as check
    from pg_policy pol
    join pg_class c on c.oid = pol.polrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname like 'app\\_%'
      and 'app_user'::regrole = any (pol.polroles)
      and (coalesce(pg_get_expr(pol.polqual, pol.polrelid), 'true') <> 'true'
           or coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), 'true') <> 'true')
    order by 2, 1`);

  t.ok(policies.length >= 5, `found ${policies.length} restricting policies to mutate`);

  for (const policy of policies) {
    const on = `${pg.escapeIdentifier(policy.name)} on ${policy.table}`;
    const clauses = (using: string | null, check: string | null) =>
      [using !== null ? `using (${using})` : '', check !== null ? `with check (${check})` : ''].join(' ');
    await db.admin.query(`alter policy ${on} ${clauses(policy.using && 'true', policy.check && 'true')}`);
    try {
      const found = Object.values(await allViolations(db, tables, clinics, rows)).flat();
      t.ok(found.length > 0, `loosening ${policy.table} ${policy.name} is caught`, { found });
    } finally {
      await db.admin.query(`alter policy ${on} ${clauses(policy.using, policy.check)}`);
    }
  }

  const after = Object.values(await allViolations(db, tables, clinics, rows)).flat();
  t.same(after, [], 'policies restored');
});
