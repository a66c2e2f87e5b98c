// A clinic's members. One query each, no clinic filter: RLS scopes them (patients see the staff
// and themselves only).
import { sql } from 'kysely';
import type { Invitation } from '../../auth/invitations.ts';
import type { TenantDb } from '../../db/tenant.ts';
import type { WeeklyHours } from '../../http/params.ts';
import type { Member, MemberUpdate } from './schemas.ts';

const columns = [
  'id', 'role', 'status', 'display_name as displayName', 'specialisation', 'licence_number as licenceNumber',
  'qualification', sql<number | null>`consultation_fee::float8`.as('consultationFee'), sql<WeeklyHours>`office_hours`.as('officeHours'),
  'created_at as createdAt',
] as const;

type Row = Omit<Member, 'role' | 'status'> & { role: string; status: string };

export function listMembers(db: TenantDb, limit: number, after?: [string, string]): Promise<Row[]> {
  let query = db.selectFrom('app_public.clinic_members').select(columns).orderBy('display_name').orderBy('id').limit(limit);
  if (after) query = query.where((eb) => eb(eb.refTuple('display_name', 'id'), '>', eb.tuple(after[0], after[1])));
  return query.execute();
}

export function findMember(db: TenantDb, id: string): Promise<Row | undefined> {
  return db.selectFrom('app_public.clinic_members').select(columns).where('id', '=', id).executeTakeFirst();
}

/** The invited membership; the invitation's token goes to the e-mail through the outbox. */
export async function inviteMember(
  db: TenantDb,
  input: { email: string; role: string; displayName: string; invitation: Invitation },
): Promise<string> {
  const { invitation } = input;
  const { rows } = await sql<{ id: string }>`select app_hidden.invite_member(${input.email}, ${input.role}, ${input.displayName},
    ${invitation.hash}, ${invitation.token}, ${invitation.ttl}::interval) as id`.execute(db);
  return rows[0]!.id;
}

export function updateMember(db: TenantDb, id: string, change: MemberUpdate): Promise<Row | undefined> {
  return db
    .updateTable('app_public.clinic_members')
    .set({
      ...(change.role !== undefined && { role: change.role }),
      ...(change.status !== undefined && { status: change.status }),
      ...(change.displayName !== undefined && { display_name: change.displayName }),
      ...(change.specialisation !== undefined && { specialisation: change.specialisation }),
      ...(change.licenceNumber !== undefined && { licence_number: change.licenceNumber }),
      ...(change.qualification !== undefined && { qualification: change.qualification }),
      ...(change.consultationFee !== undefined && { consultation_fee: change.consultationFee === null ? null : String(change.consultationFee) }),
      ...(change.officeHours !== undefined && { office_hours: JSON.stringify(change.officeHours) }),
    })
    .where('id', '=', id)
    .returning(columns)
    .executeTakeFirst();
}
