// One query each, the transaction first, no clinic filter: RLS scopes every statement; the
// database holds the rules (opening moves the visit, signing locks, the version bumps).
import { type QueryCreator, sql } from 'kysely';
import type { TenantDb } from '../../db/tenant.ts';
import type { DB } from '../../db/types.ts';
import type {
  Addendum,
  Consultation,
  ConsultationSummary,
  Diagnosis,
  DiagnosisInput,
  DiagnosisPatch,
  Icd10Code,
  ListFilters,
  OpenInput,
  PatchInput,
  Vitals,
  VitalsInput,
} from './schemas.ts';

const summaryColumns = sql`c.id, c.visit_id as "visitId", c.patient_id as "patientId", c.doctor_id as "doctorId", c.status,
  c.chief_complaint as "chiefComplaint", c.symptoms, c.findings, c.clinical_notes as "clinicalNotes", c.urgency,
  c.treatment_plan as "treatmentPlan", c.version, c.signed_at as "signedAt", c.completed_at as "completedAt",
  c.created_at as "createdAt", c.updated_at as "updatedAt"`;

const vitalsJson = sql`json_build_object('id', v.id, 'recordedBy', v.recorded_by, 'measuredAt', v.measured_at,
  'systolicMmhg', v.systolic_mmhg, 'diastolicMmhg', v.diastolic_mmhg, 'heartRateBpm', v.heart_rate_bpm,
  'temperatureC', v.temperature_c::float8, 'respiratoryRatePerMin', v.respiratory_rate_per_min, 'spo2Percent', v.spo2_percent,
  'weightKg', v.weight_kg::float8, 'heightCm', v.height_cm::float8, 'createdAt', v.created_at)`;
const diagnosisJson = sql`json_build_object('id', d.id, 'icd10Code', d.icd10_code, 'description', d.description,
  'isPrimary', d.is_primary, 'createdAt', d.created_at, 'updatedAt', d.updated_at)`;
const addendumJson = sql`json_build_object('id', a.id, 'authorId', a.author_id, 'body', a.body, 'signedAt', a.signed_at)`;

type Json<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };
const dated = <T extends Record<string, unknown>>(row: Json<T>, keys: (keyof T)[]): T => {
  const out: Record<string, unknown> = { ...row };
  for (const key of keys) out[key as string] = out[key as string] === null ? null : new Date(out[key as string] as string);
  return out as T;
};
export const vitalsOf = (row: Json<Vitals>): Vitals => dated<Vitals>(row, ['measuredAt', 'createdAt']);
export const diagnosisOf = (row: Json<Diagnosis>): Diagnosis => dated<Diagnosis>(row, ['createdAt', 'updatedAt']);
export const addendumOf = (row: Json<Addendum>): Addendum => dated<Addendum>(row, ['signedAt']);

type FullRow = ConsultationSummary & { vitals: Json<Vitals>[]; diagnoses: Json<Diagnosis>[]; addenda: Json<Addendum>[] };

/** A consultation with its vital signs, diagnoses and addenda: one statement (the chart log rides on it). */
export async function readConsultation(q: QueryCreator<DB>, id: string): Promise<Consultation | undefined> {
  const row = (await q
    .selectFrom(
      sql`(
    select ${summaryColumns},
      coalesce((select json_agg(${vitalsJson} order by v.measured_at, v.id) from app_public.vitals v
        where v.clinic_id = c.clinic_id and v.consultation_id = c.id), '[]') as vitals,
      coalesce((select json_agg(${diagnosisJson} order by d.is_primary desc, d.created_at, d.id) from app_public.diagnoses d
        where d.clinic_id = c.clinic_id and d.consultation_id = c.id), '[]') as diagnoses,
      coalesce((select json_agg(${addendumJson} order by a.signed_at, a.id) from app_public.consultation_addenda a
        where a.clinic_id = c.clinic_id and a.consultation_id = c.id), '[]') as addenda
    from app_public.consultations c where c.id = ${id})`.as('found'),
    )
    .selectAll()
    .executeTakeFirst()) as FullRow | undefined;
  if (!row) return undefined;
  return { ...row, vitals: row.vitals.map(vitalsOf), diagnoses: row.diagnoses.map(diagnosisOf), addenda: row.addenda.map(addendumOf) };
}

/** A listed consultation with its exact position: created_at to the microsecond (a Date has milliseconds), for the cursor. */
export type ListedConsultation = ConsultationSummary & { cursorTime: string };

/** Newest first; the cursor is (created_at, id), the time as the database has it (cursorTime). */
export async function listConsultations(q: QueryCreator<DB>, filters: ListFilters, limit: number): Promise<ListedConsultation[]> {
  return (await q
    .selectFrom(
      sql`(
    select ${summaryColumns}, to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "cursorTime"
    from app_public.consultations c
    where (${filters.patientId ?? null}::uuid is null or c.patient_id = ${filters.patientId ?? null})
      and (${filters.doctorId ?? null}::uuid is null or c.doctor_id = ${filters.doctorId ?? null})
      and (${filters.status ?? null}::text is null or c.status = ${filters.status ?? null})
      and (${filters.after?.[0] ?? null}::timestamptz is null or (c.created_at, c.id) < (${filters.after?.[0] ?? null}::timestamptz, ${filters.after?.[1] ?? null}::uuid))
    order by c.created_at desc, c.id desc limit ${limit})`.as('found'),
    )
    .selectAll()
    .execute()) as ListedConsultation[];
}

/** The reads of a list without a patient filter, recorded per patient listed (the same transaction). */
export async function recordListedPatients(db: TenantDb, patientIds: string[]): Promise<void> {
  if (patientIds.length === 0) return;
  await sql`insert into app_public.patient_access_log (patient_id, action)
    select distinct p, 'read_record' from unnest(${patientIds}::uuid[]) p`.execute(db);
}

export async function openConsultation(db: TenantDb, input: OpenInput): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    insert into app_public.consultations (visit_id, chief_complaint, symptoms, findings, clinical_notes, urgency, treatment_plan)
    values (${input.visitId}, ${input.chiefComplaint ?? null}, ${input.symptoms ?? null}, ${input.findings ?? null},
      ${input.clinicalNotes ?? null}, ${input.urgency ?? 'routine'}, ${input.treatmentPlan ?? null})
    returning id`.execute(db);
  return rows[0]!.id;
}

const PATCHABLE = {
  chiefComplaint: 'chief_complaint',
  symptoms: 'symptoms',
  findings: 'findings',
  clinicalNotes: 'clinical_notes',
  urgency: 'urgency',
  treatmentPlan: 'treatment_plan',
} as const;

/** The draft's fields, only at that version: false when no row matched (missing, not yours, signed or stale). */
export async function patchConsultation(db: TenantDb, id: string, version: number, input: PatchInput): Promise<boolean> {
  const sets = Object.entries(PATCHABLE)
    .filter(([key]) => input[key as keyof PatchInput] !== undefined)
    .map(([key, column]) => sql`${sql.ref(column)} = ${input[key as keyof PatchInput] ?? null}`);
  // An empty patch still bumps the version, like any write: the client learns the current one.
  if (sets.length === 0) sets.push(sql`urgency = urgency`);
  const result = await sql`update app_public.consultations set ${sql.join(sets)} where id = ${id} and version = ${version}`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

export async function signConsultation(db: TenantDb, id: string, version: number): Promise<boolean> {
  const result = await sql`update app_public.consultations set status = 'signed' where id = ${id} and version = ${version}`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

/** What a write that matched no row met: nothing the caller may see, or the row at its current version and status. */
export async function stateOf(db: TenantDb, id: string): Promise<{ version: number; status: string; mine: boolean } | undefined> {
  const { rows } = await sql<{ version: number; status: string; mine: boolean }>`
    select version, status, doctor_id is not distinct from app_public.current_member_id() as mine
    from app_public.consultations where id = ${id}`.execute(db);
  return rows[0];
}

export async function insertVitals(db: TenantDb, consultationId: string, input: VitalsInput): Promise<Vitals> {
  const { rows } = await sql<Json<Vitals>>`
    with v as (
      insert into app_public.vitals (consultation_id, measured_at, systolic_mmhg, diastolic_mmhg, heart_rate_bpm, temperature_c,
        respiratory_rate_per_min, spo2_percent, weight_kg, height_cm)
      values (${consultationId}, coalesce(${input.measuredAt ?? null}::timestamptz, now()), ${input.systolicMmhg ?? null}, ${input.diastolicMmhg ?? null},
        ${input.heartRateBpm ?? null}, ${input.temperatureC ?? null}, ${input.respiratoryRatePerMin ?? null}, ${input.spo2Percent ?? null},
        ${input.weightKg ?? null}, ${input.heightCm ?? null})
      returning *)
    select ${vitalsJson} as j from v`.execute(db);
  return vitalsOf((rows[0] as unknown as { j: Json<Vitals> }).j);
}

export async function insertDiagnosis(db: TenantDb, consultationId: string, input: DiagnosisInput): Promise<Diagnosis> {
  const { rows } = await sql<{ j: Json<Diagnosis> }>`
    with d as (
      insert into app_public.diagnoses (consultation_id, icd10_code, description, is_primary)
      values (${consultationId}, ${input.icd10Code}, ${input.description ?? null}, ${input.isPrimary ?? false})
      returning *)
    select ${diagnosisJson} as j from d`.execute(db);
  return diagnosisOf(rows[0]!.j);
}

export async function updateDiagnosis(db: TenantDb, consultationId: string, id: string, input: DiagnosisPatch): Promise<Diagnosis | undefined> {
  const sets = [
    input.icd10Code !== undefined ? sql`icd10_code = ${input.icd10Code}` : undefined,
    // A new code without a text takes the code's text (the default trigger fills a null).
    input.description !== undefined ? sql`description = ${input.description}` : input.icd10Code !== undefined ? sql`description = null` : undefined,
    input.isPrimary !== undefined ? sql`is_primary = ${input.isPrimary}` : undefined,
  ].filter((s) => s !== undefined);
  if (sets.length === 0) sets.push(sql`is_primary = is_primary`);
  const { rows } = await sql<{ j: Json<Diagnosis> }>`
    with d as (update app_public.diagnoses set ${sql.join(sets)} where id = ${id} and consultation_id = ${consultationId} returning *)
    select ${diagnosisJson} as j from d`.execute(db);
  return rows[0] && diagnosisOf(rows[0].j);
}

export async function insertAddendum(db: TenantDb, consultationId: string, body: string): Promise<Addendum> {
  const { rows } = await sql<{ j: Json<Addendum> }>`
    with a as (insert into app_public.consultation_addenda (consultation_id, body) values (${consultationId}, ${body}) returning *)
    select ${addendumJson} as j from a`.execute(db);
  return addendumOf(rows[0]!.j);
}

/** Whether the caller sees this consultation (a child's insert that RLS refuses is then a 404, not a 403). */
export async function consultationExists(db: TenantDb, id: string): Promise<boolean> {
  const { rows } = await sql`select 1 from app_public.consultations where id = ${id}`.execute(db);
  return rows.length === 1;
}

/**
 * The look-up: codes starting with the query (J45, j45.9) or whose text has every word of it as a
 * word prefix (asthma, "chest pain"), the clinic's codes first, then by code. Both sides indexed
 * (code text_pattern_ops, GIN on the words).
 */
export async function searchIcd10(db: TenantDb, q: string, limit: number): Promise<Icd10Code[]> {
  const prefix = `${q.toUpperCase().replace(/[%_\\]/g, '')}%`;
  const words = q
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0)
    .slice(0, 8);
  const tsquery = words.length > 0 ? words.map((w) => `${w}:*`).join(' & ') : null;
  const { rows } = await sql<Icd10Code>`
    select code, description, source from (
      select k.code, k.description, 'clinic' as source, 0 as rank from app_public.clinic_icd10_codes k
      where k.code like ${prefix} or (${tsquery}::text is not null and to_tsvector('simple', k.description) @@ to_tsquery('simple', ${tsquery}))
      union all
      select b.code, b.description, 'bundled', 1 from app_hidden.search_bundled_icd10(${prefix}, ${tsquery}, ${limit}) b
      where not exists (select from app_public.clinic_icd10_codes k where k.code = b.code)
    ) found order by rank, code limit ${limit}`.execute(db);
  return rows;
}

export async function insertIcd10(db: TenantDb, code: string, description: string): Promise<Icd10Code> {
  const { rows } = await sql<Icd10Code>`
    insert into app_public.clinic_icd10_codes (code, description) values (${code}, ${description})
    returning code, description, 'clinic' as source`.execute(db);
  return rows[0]!;
}
