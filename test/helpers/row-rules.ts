// Policies that decide per row, not per command: which rows of its own clinic a role sees.
// Part of tableViolations(), so the mutation test also proves these policies are tested. Like
// every violation, each message starts with the command whose policy it concerns.
import { sql } from 'kysely';
import { withTenant, type TenantDb } from '../../src/db/tenant.ts';
import type { TestDatabase } from './db.ts';

type Clinics = { a: string; b: string };
type RowRule = (db: TestDatabase, clinics: Clinics) => Promise<string[]>;

const seeded = new WeakMap<TestDatabase, { patient: string; otherPatient: string }>();

async function seedPatients(db: TestDatabase, clinicId: string) {
  const known = seeded.get(db);
  if (known) return known;
  const { rows } = await db.admin.query<{ id: string }>(
    `insert into app_private.accounts (email, password_hash)
     values ('patient-one@example.test', '$argon2id$rule'), ('patient-two@example.test', '$argon2id$rule') returning id`,
  );
  const [patient, otherPatient] = rows.map((r) => r.id) as [string, string];
  await db.admin.query(
    `insert into app_public.clinic_members (clinic_id, account_id, role, display_name)
     values ($1, $2, 'patient', 'Patient One'), ($1, $3, 'patient', 'Patient Two')`,
    [clinicId, patient, otherPatient],
  );
  const ids = { patient, otherPatient };
  seeded.set(db, ids);
  return ids;
}

const visibleRoles = (trx: TenantDb) =>
  sql<{ role: string; own: boolean }>`select role, account_id = app_public.current_user_id() as own from app_public.clinic_members`
    .execute(trx)
    .then((r) => r.rows);

/** Revoking again would rewrite who revoked it and when: it must change nothing. */
const revokeAgain = (grantId: string) => (trx: TenantDb) =>
  sql`update app_public.support_access_grants set revoked_at = now() where id = ${grantId}`.execute(trx).then((r) => Number(r.numAffectedRows ?? 0));

export const ROW_RULES: Record<string, RowRule> = {
  // Revocation is final: a revoked grant cannot be changed (a check constraint keeps it from being reopened).
  'app_public.support_access_grants': async (db, clinics) => {
    const { rows } = await db.admin.query<{ id: string; admin: string }>(
      `with operator as (select account_id from app_private.platform_operators limit 1)
       insert into app_public.support_access_grants (clinic_id, operator_account_id, granted_by, reason, expires_at, revoked_at, revoked_by)
       select $1, account_id, account_id, 'revoked fixture', now() + interval '1 hour', now(), account_id from operator
       returning id, granted_by as admin`,
      [clinics.a],
    );
    const { id, admin } = rows[0]!;
    const changed = await withTenant(db.pool, { clinicId: clinics.a, userId: admin, role: 'clinic_admin' }, revokeAgain(id));
    return changed === 0 ? [] : ['update: a revoked support grant was changed'];
  },
  'app_public.clinic_members': async (db, clinics) => {
    const { patient } = await seedPatients(db, clinics.a);
    const violations: string[] = [];
    const asPatient = await withTenant(db.pool, { clinicId: clinics.a, userId: patient, role: 'patient' }, visibleRoles);
    if (asPatient.filter((m) => m.role === 'patient').length !== 1 || !asPatient.some((m) => m.own)) {
      violations.push('select: a patient sees other patients (or not themselves)');
    }
    if (!asPatient.some((m) => m.role !== 'patient')) violations.push('select: a patient cannot see the staff');
    const asNurse = await withTenant(db.pool, { clinicId: clinics.a, userId: null, role: 'nurse' }, visibleRoles);
    if (asNurse.filter((m) => m.role === 'patient').length < 2) violations.push("select: staff cannot see the clinic's patients");
    return violations;
  },
};
