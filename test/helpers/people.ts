// People for HTTP tests, arranged as superuser: an account with a real argon2id hash, its clinic
// memberships, and optionally operator status.
import { hashPassword } from '../../src/auth/passwords.ts';
import type { ClinicRole } from '../../src/db/tenant.ts';
import type { TestDatabase } from './db.ts';

export async function createPerson(
  db: TestDatabase,
  email: string,
  password: string,
  memberships: [clinicId: string, role: ClinicRole][] = [],
): Promise<string> {
  const { rows } = await db.admin.query<{ id: string }>('insert into app_private.accounts (email, password_hash) values ($1, $2) returning id', [
    email,
    await hashPassword(password),
  ]);
  const id = rows[0]!.id;
  for (const [clinicId, role] of memberships) {
    await db.admin.query('insert into app_public.clinic_members (clinic_id, account_id, role, display_name) values ($1, $2, $3, $4)', [
      clinicId,
      id,
      role,
      `${email} as ${role}`,
    ]);
  }
  return id;
}

export async function createOperator(db: TestDatabase, email: string, password: string): Promise<string> {
  const id = await createPerson(db, email, password);
  await db.admin.query('insert into app_private.platform_operators (account_id) values ($1)', [id]);
  return id;
}
