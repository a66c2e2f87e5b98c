// A clinic's members. One query each, no clinic filter: RLS scopes them (patients see the staff
// and themselves only).
import { sql } from 'kysely';
import type { Invitation } from '../../auth/invitations.ts';
import type { TenantDb } from '../../db/tenant.ts';
import type { WeeklyHours } from '../../http/params.ts';
import type { Member, MemberUpdate } from './schemas.ts';

const columns = [
  'id',
  'role',
  'status',
  'displayName',
  'specialisation',
  'licenceNumber',
  'qualification',
  sql<number | null>`consultation_fee::float8`.as('consultationFee'),
  'officeHours',
  'createdAt',
] as const;

/** What the json column holds (the database checks its shape). */
type Stored = { officeHours: WeeklyHours };

type Row = Omit<Member, 'role' | 'status'> & { role: string; status: string };

export function listMembers(db: TenantDb, limit: number, after?: [string, string]): Promise<Row[]> {
  let query = db.selectFrom('appPublic.clinicMembers').select(columns).orderBy('displayName').orderBy('id').limit(limit);
  if (after) query = query.where((eb) => eb(eb.refTuple('displayName', 'id'), '>', eb.tuple(after[0], after[1])));
  return query.$narrowType<Stored>().execute();
}

export function findMember(db: TenantDb, id: string): Promise<Row | undefined> {
  return db.selectFrom('appPublic.clinicMembers').select(columns).where('id', '=', id).$narrowType<Stored>().executeTakeFirst();
}

/** The invited membership; the invitation's token goes to the e-mail through the outbox. */
export async function inviteMember(db: TenantDb, input: { email: string; role: string; displayName: string; invitation: Invitation }): Promise<string> {
  const { invitation } = input;
  const { rows } = await sql<{ id: string }>`select app_hidden.invite_member(${input.email}, ${input.role}, ${input.displayName},
    ${invitation.hash}, ${invitation.token}, ${invitation.ttl}::interval) as id`.execute(db);
  return rows[0]!.id;
}

/** Only the fields given change (Kysely leaves out a column whose value is undefined). */
export function updateMember(db: TenantDb, id: string, change: MemberUpdate): Promise<Row | undefined> {
  return db
    .updateTable('appPublic.clinicMembers')
    .set({
      role: change.role,
      status: change.status,
      displayName: change.displayName,
      specialisation: change.specialisation,
      licenceNumber: change.licenceNumber,
      qualification: change.qualification,
      consultationFee: change.consultationFee,
      officeHours: change.officeHours && JSON.stringify(change.officeHours),
    })
    .where('id', '=', id)
    .returning(columns)
    .$narrowType<Stored>()
    .executeTakeFirst();
}
