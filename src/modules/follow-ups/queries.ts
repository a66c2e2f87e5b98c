// One query each, the transaction first, no clinic filter: RLS scopes every statement.
import { sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { FollowUp, FollowUpInput, ListQuery } from './schemas.ts';

const dueDate = sql<string>`to_char(due_date, 'YYYY-MM-DD')`.as('dueDate');
const columns = ['id', 'consultationId', 'patientId', 'doctorId', dueDate, 'reason', 'status', 'appointmentId', 'createdAt', 'updatedAt'] as const;

/** Soonest due first (a worklist), then by id. */
export function listFollowUps(db: TenantDb, query: ListQuery, limit: number): Promise<FollowUp[]> {
  let q = db.selectFrom('appPublic.followUps').select(columns).orderBy('dueDate').orderBy('id').limit(limit);
  if (query.status) q = q.where('status', '=', query.status);
  if (query.doctorId) q = q.where('doctorId', '=', query.doctorId);
  if (query.patientId) q = q.where('patientId', '=', query.patientId);
  const after = query.after;
  if (after) q = q.where(sql<boolean>`(due_date, id) > (${after[0]}::date, ${after[1]}::uuid)`);
  return q.execute() as Promise<FollowUp[]>;
}

export function findFollowUp(db: TenantDb, id: string): Promise<FollowUp | undefined> {
  return db.selectFrom('appPublic.followUps').select(columns).where('id', '=', id).executeTakeFirst() as Promise<FollowUp | undefined>;
}

/**
 * Asks for a follow-up in a consultation: the patient is the consultation's (read as the caller may
 * see it: none, no row); the due date the given one or the clinic's today plus inDays. Undefined when
 * the consultation is not visible.
 */
export function insertFollowUp(db: TenantDb, input: FollowUpInput): Promise<FollowUp | undefined> {
  const due = input.dueDate !== undefined ? sql`${input.dueDate}::date` : sql`app_public.current_clinic_date() + ${input.inDays}::int`;
  return db
    .insertInto('appPublic.followUps')
    .columns(['consultationId', 'patientId', 'dueDate', 'reason'])
    .expression((eb) =>
      eb
        .selectFrom('appPublic.consultations')
        .select(['id', 'patientId', sql<string>`${due}`.as('dueDate'), sql<string>`${input.reason}::text`.as('reason')])
        .where('id', '=', input.consultationId),
    )
    .returning(columns)
    .executeTakeFirst() as Promise<FollowUp | undefined>;
}

export function setFollowUpStatus(db: TenantDb, id: string, status: FollowUp['status']): Promise<FollowUp | undefined> {
  return db.updateTable('appPublic.followUps').set({ status }).where('id', '=', id).returning(columns).executeTakeFirst() as Promise<FollowUp | undefined>;
}
