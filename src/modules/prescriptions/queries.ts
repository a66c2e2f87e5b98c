// One query each, no clinic filter: RLS scopes every statement. The reads that are chart reads take
// a QueryCreator (src/records/chart-access.ts rides the access log's insert along).
import { type QueryCreator, sql } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { TenantDb } from '../../db/tenant.ts';
import type { DB } from '../../db/types.ts';
import type { ItemInput, Prescription, PrescriptionSummary } from './schemas.ts';

const summaryColumns = [
  'p.id',
  'p.consultationId',
  'p.patientId',
  'p.doctorId',
  'p.prescriptionNumber',
  'p.status',
  'p.notes',
  'p.version',
  'p.issuedAt',
  'p.completedAt',
  'p.cancelledAt',
  'p.cancellationReason',
  'p.createdAt',
  'p.updatedAt',
] as const;

const itemColumns = [
  'i.id',
  'i.position',
  'i.medicineName',
  'i.genericName',
  'i.strength',
  'i.doseForm',
  'i.dose',
  'i.frequency',
  'i.frequencyCustom',
  'i.route',
  'i.durationDays',
  'i.quantity',
  'i.refills',
  'i.instructions',
] as const;

/** Rows of a json array (jsonArrayFrom) with their keys camel-cased, as the CamelCasePlugin does for top-level columns. */
export function camelRows(rows: unknown): Record<string, unknown>[] {
  return ((rows as Record<string, unknown>[] | null) ?? []).map((row) =>
    Object.fromEntries(Object.entries(row).map(([key, value]) => [key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()), value])),
  );
}

/** A new draft of the consultation's patient; undefined when the caller cannot see the consultation. */
export async function insertPrescription(db: TenantDb, consultationId: string, notes: string | null): Promise<{ id: string; patientId: string } | undefined> {
  return db
    .insertInto('appPublic.prescriptions')
    .columns(['consultationId', 'patientId', 'notes'])
    .expression(
      db
        .selectFrom('appPublic.consultations')
        .select(['id', 'patientId', sql<string | null>`${notes}::text`.as('notes')])
        .where('id', '=', consultationId),
    )
    .returning(['id', 'patientId'])
    .executeTakeFirst();
}

export async function insertItems(db: TenantDb, prescriptionId: string, patientId: string, items: ItemInput[]): Promise<void> {
  if (items.length === 0) return;
  await db
    .insertInto('appPublic.prescriptionItems')
    .values(
      items.map((item, index) => ({
        prescriptionId,
        patientId,
        position: index + 1,
        medicineName: item.medicineName,
        genericName: item.genericName ?? null,
        strength: item.strength ?? null,
        doseForm: item.doseForm,
        dose: item.dose,
        frequency: item.frequency,
        frequencyCustom: item.frequencyCustom ?? null,
        route: item.route,
        durationDays: item.durationDays ?? null,
        quantity: item.quantity,
        refills: item.refills ?? 0,
        instructions: item.instructions ?? null,
      })),
    )
    .execute();
}

export async function deleteItems(db: TenantDb, prescriptionId: string): Promise<void> {
  await db.deleteFrom('appPublic.prescriptionItems').where('prescriptionId', '=', prescriptionId).execute();
}

/** The state and version of a prescription the caller sees. */
export function findState(db: TenantDb, id: string): Promise<{ status: string; version: number; patientId: string } | undefined> {
  return db.selectFrom('appPublic.prescriptions').select(['status', 'version', 'patientId']).where('id', '=', id).executeTakeFirst();
}

export interface Change {
  notes?: string | null | undefined;
  status?: 'issued' | 'completed' | 'cancelled';
  cancellationReason?: string;
}

/** Writes the change when the prescription is still at `version` (the database bumps it); undefined when no row matched. */
export async function updatePrescription(db: TenantDb, id: string, version: number, change: Change): Promise<{ id: string } | undefined> {
  return db
    .updateTable('appPublic.prescriptions')
    .set((eb) => ({
      notes: change.notes === undefined ? eb.ref('notes') : change.notes,
      ...(change.status ? { status: change.status } : {}),
      ...(change.cancellationReason ? { cancellationReason: change.cancellationReason } : {}),
    }))
    .where('id', '=', id)
    .where('version', '=', version)
    .returning('id')
    .executeTakeFirst();
}

export async function insertAcknowledgements(
  db: TenantDb,
  prescriptionId: string,
  patientId: string,
  acks: { allergyId: string; note: string }[],
): Promise<void> {
  if (acks.length === 0) return;
  await db
    .insertInto('appPublic.prescriptionAllergyAcknowledgements')
    .values(acks.map((ack) => ({ prescriptionId, patientId, allergyId: ack.allergyId, note: ack.note })))
    .execute();
}

export interface AllergyMatch {
  allergyId: string;
  allergyName: string;
  itemPosition: number;
  medicineName: string;
}

/** The patient's active allergies an item matches and nobody acknowledged (the database's rule, app_public.prescription_allergy_matches). */
export async function unacknowledgedAllergies(db: TenantDb, id: string): Promise<AllergyMatch[]> {
  const { rows } = await sql<AllergyMatch>`select allergy_id, allergy_name, item_position, medicine_name
    from app_public.prescription_allergy_matches(${id}) where not acknowledged`.execute(db);
  return rows;
}

/** One prescription with its items and acknowledgements, in one statement. */
export function readPrescription(
  q: QueryCreator<DB>,
  id: string,
): Promise<(PrescriptionSummary & { items: unknown[]; allergyAcknowledgements: unknown[] }) | undefined> {
  return q
    .selectFrom('appPublic.prescriptions as p')
    .select(summaryColumns)
    .select((eb) => [
      jsonArrayFrom(eb.selectFrom('appPublic.prescriptionItems as i').select(itemColumns).whereRef('i.prescriptionId', '=', 'p.id').orderBy('i.position')).as(
        'items',
      ),
      jsonArrayFrom(
        eb
          .selectFrom('appPublic.prescriptionAllergyAcknowledgements as a')
          .innerJoin('appPublic.patientHistory as h', (join) => join.onRef('h.clinicId', '=', 'a.clinicId').onRef('h.id', '=', 'a.allergyId'))
          .select(['a.id', 'a.allergyId', 'h.name as allergyName', 'a.note', 'a.acknowledgedBy', 'a.createdAt'])
          .whereRef('a.prescriptionId', '=', 'p.id')
          .orderBy('a.createdAt')
          .orderBy('a.id'),
      ).as('allergyAcknowledgements'),
    ])
    .where('p.id', '=', id)
    .executeTakeFirst() as Promise<(PrescriptionSummary & { items: unknown[]; allergyAcknowledgements: unknown[] }) | undefined>;
}

/** A listed prescription with its exact position: created_at to the microsecond (a Date has milliseconds), for the cursor. */
export type ListedPrescription = PrescriptionSummary & { cursorTime: string };

/** A patient's prescriptions, newest first; the cursor is (created_at, id), the time as the database has it (cursorTime). */
export function listPrescriptions(
  q: QueryCreator<DB>,
  query: { patientId: string; status?: string | undefined; after?: [string, string] | undefined },
  limit: number,
): Promise<ListedPrescription[]> {
  let select = q
    .selectFrom('appPublic.prescriptions as p')
    .select(summaryColumns)
    .select(sql<string>`to_char(p.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('cursorTime'))
    .where('p.patientId', '=', query.patientId)
    .orderBy('p.createdAt', 'desc')
    .orderBy('p.id', 'desc')
    .limit(limit);
  if (query.status) select = select.where('p.status', '=', query.status);
  const after = query.after;
  if (after) select = select.where(sql<boolean>`(p.created_at, p.id) < (${after[0]}::timestamptz, ${after[1]}::uuid)`);
  return select.execute() as Promise<ListedPrescription[]>;
}

export interface PdfData {
  prescription: Prescription;
  clinic: {
    name: string;
    address: string | null;
    contactPhone: string | null;
    contactEmail: string | null;
    primaryColour: string | null;
    secondaryColour: string | null;
    timezone: string;
  };
  doctor: { displayName: string; licenceNumber: string | null };
  patient: { fullName: string; patientNumber: string; ageAtIssue: number };
}

/** Everything the PDF shows, in one statement; undefined when the caller cannot see the prescription. */
export async function readPdfData(q: QueryCreator<DB>, id: string): Promise<Record<string, unknown> | undefined> {
  return q
    .selectFrom('appPublic.prescriptions as p')
    .innerJoin('appPublic.clinics as c', 'c.id', 'p.clinicId')
    .leftJoin('appPublic.clinicSettings as s', 's.clinicId', 'p.clinicId')
    .innerJoin('appPublic.clinicMembers as m', (join) => join.onRef('m.clinicId', '=', 'p.clinicId').onRef('m.id', '=', 'p.doctorId'))
    .innerJoin('appPublic.patients as pt', (join) => join.onRef('pt.clinicId', '=', 'p.clinicId').onRef('pt.id', '=', 'p.patientId'))
    .select(summaryColumns)
    .select((eb) => [
      'c.name as clinicName',
      'c.address as clinicAddress',
      'c.contactPhone as clinicPhone',
      'c.contactEmail as clinicEmail',
      'c.timezone as clinicTimezone',
      's.brandPrimaryColour as primaryColour',
      's.brandSecondaryColour as secondaryColour',
      'm.displayName as doctorName',
      'm.licenceNumber as licenceNumber',
      'pt.fullName as patientName',
      'pt.patientNumber as patientNumber',
      sql<number>`extract(year from age((coalesce(p.issued_at, now()) at time zone c.timezone)::date, pt.date_of_birth))::int`.as('ageAtIssue'),
      sql<string>`to_char(coalesce(p.issued_at, now()) at time zone c.timezone, 'YYYY-MM-DD')`.as('issuedOn'),
      jsonArrayFrom(eb.selectFrom('appPublic.prescriptionItems as i').select(itemColumns).whereRef('i.prescriptionId', '=', 'p.id').orderBy('i.position')).as(
        'items',
      ),
    ])
    .where('p.id', '=', id)
    .executeTakeFirst() as Promise<Record<string, unknown> | undefined>;
}
