// One query each, the transaction first, no clinic filter: RLS scopes every statement, and the SQL
// functions (migrations: doctor_queue, visit_queue_position, call_next_visit) hold the queue's rules.
import { sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { CheckIn, ListFilters, Queue, Visit } from './schemas.ts';

/** `visit_date` as text: a calendar date, not a Date at some server's midnight. */
const columns = [
  'id',
  'patientId',
  'appointmentId',
  'doctorId',
  sql<string>`visit_date::text`.as('visitDate'),
  'tokenNumber',
  'purpose',
  'priority',
  'status',
  'checkedInAt',
  'calledAt',
  'consultationStartedAt',
  'completedAt',
  'skippedAt',
  'createdAt',
  'updatedAt',
] as const;

type Row = Omit<Visit, 'priority' | 'status'> & { priority: string; status: string };
/** The database's check constraints hold priority and status to the schema's enums. */
const typed = (row: Row) => row as Visit;

/** The columns of a raw statement's result, as `columns` names them. */
const rawColumns = sql`id, patient_id, appointment_id, doctor_id, visit_date::text as visit_date, token_number, purpose, priority, status,
  checked_in_at, called_at, consultation_started_at, completed_at, skipped_at, created_at, updated_at`;

/** Raw: the visit date and token are the database's (its trigger sets them), and the patient too when only an appointment is named. */
export async function insertVisit(db: TenantDb, input: CheckIn): Promise<Visit> {
  const { rows } = await sql<Row>`
    insert into app_public.visits (patient_id, appointment_id, doctor_id, purpose, priority)
    values (${input.patientId ?? null}, ${input.appointmentId ?? null}, ${input.doctorId ?? null}, ${input.purpose ?? null}, ${input.priority ?? 'normal'})
    returning ${rawColumns}`.execute(db);
  return typed(rows[0]!);
}

export async function listVisits(db: TenantDb, filters: ListFilters, limit: number): Promise<Visit[]> {
  let query = db
    .selectFrom('appPublic.visits')
    .select(columns)
    .where(sql<boolean>`visit_date = ${filters.date ? sql`${filters.date}::date` : sql`app_public.current_clinic_date()`}`)
    .orderBy('tokenNumber')
    .limit(limit);
  if (filters.doctorId) query = query.where('doctorId', '=', filters.doctorId);
  if (filters.patientId) query = query.where('patientId', '=', filters.patientId);
  if (filters.status) query = query.where('status', '=', filters.status);
  if (filters.after) query = query.where('tokenNumber', '>', filters.after[0]);
  return (await query.execute()).map(typed);
}

export async function findVisit(db: TenantDb, id: string): Promise<Visit | undefined> {
  const row = await db.selectFrom('appPublic.visits').select(columns).where('id', '=', id).executeTakeFirst();
  return row && typed(row);
}

/** The visit's place in its queue when it is waiting today (the database decides whether the caller may know). */
export async function queuePlaceOf(db: TenantDb, id: string): Promise<{ position: number; estimatedWaitMinutes: number } | null> {
  const { rows } = await sql<{ position: number; estimatedWaitMinutes: number }>`
    select queue_position as position, estimated_wait_minutes from app_public.visit_queue_position(${id})`.execute(db);
  return rows[0] ?? null;
}

/** Asks for a move of the state machine; the database refuses a move it does not allow (CBSTA). Undefined: no such visit for the caller. */
export async function setStatus(db: TenantDb, id: string, status: Visit['status']): Promise<Visit | undefined> {
  const row = await db.updateTable('appPublic.visits').set({ status }).where('id', '=', id).returning(columns).executeTakeFirst();
  return row && typed(row);
}

export async function callNextVisit(db: TenantDb, doctorId: string): Promise<Visit | undefined> {
  const { rows } = await sql<Row>`select ${rawColumns} from app_public.call_next_visit(${doctorId})`.execute(db);
  return rows[0] && typed(rows[0]);
}

/** Whether the member is a doctor of the clinic (visible to the caller: another clinic's is not). */
export async function isDoctor(db: TenantDb, memberId: string): Promise<boolean> {
  const row = await db.selectFrom('appPublic.clinicMembers').select('id').where('id', '=', memberId).where('role', '=', 'doctor').executeTakeFirst();
  return row !== undefined;
}

/** The doctor's queue of today, in order (staff only: the function refuses others, 42501). */
export async function readQueue(db: TenantDb, doctorId: string): Promise<Queue> {
  const { rows: entries } = await sql<Queue['entries'][number]>`
    select visit_id, token_number, status, priority, skipped, queue_position as position, estimated_wait_minutes
    from app_public.doctor_queue(${doctorId})`.execute(db);
  const { rows } = await sql<{ minutesPerPatient: string; basedOnConsultations: number; date: string }>`
    select e.minutes_per_patient, e.based_on as based_on_consultations, app_public.current_clinic_date()::text as date
    from app_public.doctor_wait_estimate(${doctorId}) e`.execute(db);
  const estimate = rows[0]!;
  return {
    doctorId,
    date: estimate.date,
    minutesPerPatient: Number(estimate.minutesPerPatient),
    basedOnConsultations: estimate.basedOnConsultations,
    entries,
  };
}
