// Mutation check: loosen each policy in turn to `true` and prove that the isolation checks of
// its own table notice, with a violation of the policy's own command (any command for a policy
// FOR ALL). A policy whose loosening no check of its table and command notices is either
// redundant or untested. Only the mutated table is swept again, so the run grows linearly with
// the tables, not with tables × policies.
import t from 'tap';
import pg from 'pg';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { allViolations, clinicsViolations, insertFixtureRows, tableViolations, tenantTables } from '../helpers/isolation.ts';

const COMMANDS: Record<string, string> = { r: 'select', a: 'insert', w: 'update', d: 'delete', '*': 'all' };

t.test('loosening any policy is caught by the checks of its table and command', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const tables = await tenantTables(db);
  const rows = await insertFixtureRows(db, tables, clinics);
  const sweep = (table: string) => {
    if (table === 'app_public.clinics') return clinicsViolations(db, clinics);
    const tenantTable = tables.find((candidate) => candidate.qualified === table);
    if (!tenantTable) throw new Error(`${table} has a policy for app_user but is no tenant table the sweep knows`);
    return tableViolations(db, tenantTable, clinics, rows);
  };

  const before = await allViolations(db, tables, clinics, rows);
  t.same(Object.values(before).flat(), [], 'no violation before any policy is loosened (else a catch would prove nothing)');

  const { rows: policies } = await db.admin.query<{ name: string; table: string; command: string; using: string | null; check: string | null }>(`
    select pol.polname as name, pol.polrelid::regclass::text as table, pol.polcmd as command,
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
    const command = COMMANDS[policy.command]!;
    const on = `${pg.escapeIdentifier(policy.name)} on ${policy.table}`;
    const clauses = (using: string | null, check: string | null) =>
      [using !== null ? `using (${using})` : '', check !== null ? `with check (${check})` : ''].join(' ');
    await db.admin.query(`alter policy ${on} ${clauses(policy.using && 'true', policy.check && 'true')}`);
    try {
      const found = await sweep(policy.table);
      const ofThisPolicy = found.filter((violation) => command === 'all' || violation.startsWith(`${command}: `));
      t.ok(
        ofThisPolicy.length > 0,
        `loosening ${policy.table} ${policy.name} (${command}) is caught by a ${command === 'all' ? '' : `${command} `}check of ${policy.table}`,
        { found },
      );
    } finally {
      await db.admin.query(`alter policy ${on} ${clauses(policy.using, policy.check)}`);
    }
  }

  // Footnote 7: a patient reads these once final. Loosening to `true` is caught above by any check;
  // dropping only the state condition, written out here by hand, must be caught too.
  const clinicians = "(select app_public.current_role_is('clinic_admin', 'doctor', 'nurse'))";
  const withLab = "(select app_public.current_role_is('clinic_admin', 'doctor', 'nurse', 'lab_technician'))";
  const WITHOUT_STATE: [table: string, policy: string, using: string][] = [
    ['app_public.consultations', 'select_clinicians_and_own_signed', `${clinicians} or app_private.patient_reads(patient_id)`],
    ['app_public.vitals', 'select_clinicians_and_own_signed', `${clinicians} or app_private.patient_reads(patient_id)`],
    ['app_public.diagnoses', 'select_clinicians_and_own_signed', `${clinicians} or app_private.patient_reads(patient_id)`],
    ['app_public.prescriptions', 'select_clinicians_and_own_issued', `${clinicians} or app_private.patient_reads(patient_id)`],
    ['app_public.prescription_items', 'select_clinicians_and_own_issued', `${clinicians} or app_private.patient_reads(patient_id)`],
    ['app_public.test_reports', 'select_clinicians_lab_and_own_released', `${withLab} or app_private.patient_reads(patient_id)`],
    ['app_public.test_results', 'select_clinicians_lab_and_own_released', `${withLab} or app_private.patient_reads(patient_id)`],
  ];
  for (const [table, name, using] of WITHOUT_STATE) {
    const policy = policies.find((candidate) => candidate.table === table && candidate.name === name);
    if (!policy) {
      t.fail(`${table} has no policy ${name} to loosen`);
      continue;
    }
    const on = `${pg.escapeIdentifier(name)} on ${table}`;
    await db.admin.query(`alter policy ${on} using (${using})`);
    try {
      const found = (await sweep(table)).filter((violation) => violation.startsWith('select: '));
      t.ok(found.length > 0, `${table} ${name} without its state condition is caught by a select check of ${table}`, { found });
    } finally {
      await db.admin.query(`alter policy ${on} using (${policy.using})`);
    }
  }

  const after = Object.values(await allViolations(db, tables, clinics, rows)).flat();
  t.same(after, [], 'policies restored');
});
