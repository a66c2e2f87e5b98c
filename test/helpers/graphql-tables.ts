// The GraphQL names the attack and matrix tests use, in one place (GRAPHQL_TABLES), and the
// schema walks that find everything else by introspection: a table's connection, every query
// field and mutation that returns its rows, the arguments that name a row. A table that appears
// in the schema without an entry here fails the sweeps, so a new table is attacked the moment it
// is exposed. Row values come from the same fixtures the SQL sweep uses (helpers/fixtures.ts).
import {
  getNamedType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputObjectType,
  type GraphQLInputType,
  GraphQLObjectType,
  type GraphQLSchema,
  isInputObjectType,
  isLeafType,
  isNonNullType,
  isObjectType,
} from 'graphql';
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { actorIn } from './actors.ts';
import { buildTestApp } from './app.ts';
import { testClient } from './client.ts';
import { createClinics, createTestDatabase, type TestDatabase } from './db.ts';
import { FIXTURES, type FixtureRefs } from './fixtures.ts';
import { type Clinics, insertFixtureRows, type Rows, type TenantTable, tenantTables } from './isolation.ts';

export interface GraphqlTable {
  /** The object type of the table's rows. */
  type: string;
  /** The mutations GraphQL offers for the table's rows; null: it must offer none (REST's workflow, or nobody, writes them). */
  create: string | null;
  update: string | null;
  delete: string | null;
  /** A change the update mutation may make to the table's fixture row (what the allowed roles succeed with). */
  patch: Record<string, unknown> | null;
}

/**
 * Table → its GraphQL names. Written out by hand: the schema under test is never the source of
 * these names. A null mutation is one GraphQL must not offer: REST's workflow does part of the work
 * in TypeScript (invitations, encryption, blob storage, grants), or nobody writes the rows.
 */
export const GRAPHQL_TABLES: Record<string, GraphqlTable> = {
  'app_public.departments': {
    type: 'Department',
    create: 'createDepartment',
    update: 'updateDepartment',
    delete: 'deleteDepartment',
    patch: { description: 'changed through GraphQL' },
  },
  'app_public.clinic_members': {
    type: 'ClinicMember',
    create: null,
    update: 'updateClinicMember',
    delete: null,
    patch: { displayName: 'Changed Through GraphQL' },
  },
  'app_public.clinic_settings': { type: 'ClinicSetting', create: null, update: 'updateClinicSetting', delete: null, patch: { currency: 'USD' } },
  'app_public.support_access_grants': { type: 'SupportAccessGrant', create: null, update: null, delete: null, patch: null },
  'app_public.patients': { type: 'Patient', create: null, update: 'updatePatient', delete: null, patch: { phone: '+44 20 7946 0999' } },
  'app_public.patient_history': {
    type: 'PatientHistory',
    create: 'createPatientHistory',
    update: 'updatePatientHistory',
    delete: null,
    patch: { detail: 'changed through GraphQL' },
  },
  'app_public.patient_access_log': { type: 'PatientAccessLog', create: null, update: null, delete: null, patch: null },
  'app_public.prescriptions': { type: 'Prescription', create: null, update: null, delete: null, patch: null },
  'app_public.prescription_items': { type: 'PrescriptionItem', create: null, update: null, delete: null, patch: null },
  'app_public.prescription_allergy_acknowledgements': { type: 'PrescriptionAllergyAcknowledgement', create: null, update: null, delete: null, patch: null },
  'app_public.doctor_time_off': { type: 'DoctorTimeOff', create: 'createDoctorTimeOff', update: null, delete: 'deleteDoctorTimeOff', patch: null },
  'app_public.appointments': {
    type: 'Appointment',
    create: 'createAppointment',
    update: 'updateAppointment',
    delete: null,
    // A patient may change only the time (or cancel) of their own appointments.
    patch: { startsAt: '2031-06-02T10:00:00.000Z', endsAt: '2031-06-02T10:15:00.000Z' },
  },
  // Only the queue's moves, which the state machine judges: calling a waiting visit is one.
  'app_public.visits': { type: 'Visit', create: 'createVisit', update: 'updateVisit', delete: null, patch: { status: 'called' } },
  'app_public.files': { type: 'File', create: null, update: null, delete: null, patch: null },
  // Consultations: reads only; opening, editing (If-Match), signing, vital signs, diagnoses and addenda are REST's workflow.
  'app_public.consultations': { type: 'Consultation', create: null, update: null, delete: null, patch: null },
  'app_public.vitals': { type: 'Vital', create: null, update: null, delete: null, patch: null },
  'app_public.diagnoses': { type: 'Diagnosis', create: null, update: null, delete: null, patch: null },
  'app_public.consultation_addenda': { type: 'ConsultationAddendum', create: null, update: null, delete: null, patch: null },
  // A clinic's own ICD-10 codes: POST …/icd10 is that insert alone.
  'app_public.clinic_icd10_codes': { type: 'ClinicIcd10Code', create: 'createClinicIcd10Code', update: null, delete: null, patch: null },
  'app_public.follow_ups': { type: 'FollowUp', create: null, update: null, delete: null, patch: null },
  // The lab: read-only (REST's workflow: the patient from the consultation, moves, results with the file, release with If-Match).
  'app_public.test_requests': { type: 'TestRequest', create: null, update: null, delete: null, patch: null },
  'app_public.test_reports': { type: 'TestReport', create: null, update: null, delete: null, patch: null },
  'app_public.test_results': { type: 'TestResult', create: null, update: null, delete: null, patch: null },
};

/**
 * Tables of the permission matrix that GraphQL does not expose at all (`@behavior -*` on the table),
 * with the type name GraphQL would give them: the sweep checks that no such type exists.
 */
export const NOT_IN_GRAPHQL: Record<string, string> = {
  // Whole-clinic exports: a download and a background build, REST only (docs/export-format.md).
  'app_public.clinic_exports': 'ClinicExport',
};

/** The tenant root: one row per clinic, no clinic_id, read-only. */
export const CLINIC_TYPE = 'Clinic';

/** The `id` of a row as PostGraphile encodes it: base64 of the JSON array [type name, ...primary key values]. */
export const encodeNodeId = (parts: unknown[]): string => Buffer.from(JSON.stringify(parts)).toString('base64');
export const decodeNodeId = (id: string): unknown[] => JSON.parse(Buffer.from(id, 'base64').toString('utf8')) as unknown[];

export const camel = (column: string) => column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export const snake = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A row as superuser reads it, keyed by column (JSON values: timestamps as text). */
export type Row = Record<string, unknown>;

export async function rowOf(db: TestDatabase, table: string, id: string): Promise<Row | undefined> {
  const { rows } = await db.admin.query<{ row: Row }>(`select to_jsonb(t) as row from ${table} t where id = $1`, [id]);
  return rows[0]?.row;
}

export async function countRows(db: TestDatabase, table: string): Promise<number> {
  return (await db.admin.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n;
}

/** The value a GraphQL argument of this type takes for a row's column value (big numbers travel as strings). */
function argumentValue(type: GraphQLInputType, value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  const named = getNamedType(type).name;
  return (named === 'BigInt' || named === 'BigFloat') && typeof value === 'number' ? String(value) : value;
}

/** The object type of the table's rows in `schema`. */
export function tableType(schema: GraphQLSchema, table: string): GraphQLObjectType | undefined {
  const type = schema.getType(GRAPHQL_TABLES[table]?.type ?? '');
  return type instanceof GraphQLObjectType ? type : undefined;
}

/** The object types that are rows (they implement Node), but not the Query root. */
export function rowTypes(schema: GraphQLSchema): GraphQLObjectType[] {
  return Object.values(schema.getTypeMap()).filter(
    (type): type is GraphQLObjectType =>
      isObjectType(type) && type !== schema.getQueryType() && !type.name.startsWith('__') && type.getInterfaces().some((i) => i.name === 'Node'),
  );
}

/** The root query field listing the type's rows (its connection), if any. */
export function connectionField(schema: GraphQLSchema, type: string): GraphQLField<unknown, unknown> | undefined {
  return Object.values(schema.getQueryType()!.getFields()).find((field) => getNamedType(field.type).name === `${type}Connection`);
}

/** Root query fields that return one row of the type (lookups by key or by node id). */
export function lookupFields(schema: GraphQLSchema, type: string): GraphQLField<unknown, unknown>[] {
  return Object.values(schema.getQueryType()!.getFields()).filter((field) => getNamedType(field.type).name === type && field.args.length > 0);
}

/** Every mutation whose payload carries a row of the type: create, update and delete, by any key. */
export function mutationsOf(schema: GraphQLSchema, type: string): GraphQLField<unknown, unknown>[] {
  return Object.values(schema.getMutationType()?.getFields() ?? {}).filter((mutation) => {
    const payload = getNamedType(mutation.type);
    return isObjectType(payload) && Object.values(payload.getFields()).some((field) => field.name !== 'query' && getNamedType(field.type).name === type);
  });
}

export function mutationNamed(schema: GraphQLSchema, name: string): GraphQLField<unknown, unknown> | undefined {
  return schema.getMutationType()?.getFields()[name];
}

/** What a mutation writes, from its input and payload: a row to create, a patch, a deleted row, or something else (a function). */
export function mutationKind(mutation: GraphQLField<unknown, unknown>): 'insert' | 'update' | 'delete' | 'other' {
  const fields = Object.values(inputFields(mutation).getFields());
  if (fields.some((field) => field.name === 'patch')) return 'update';
  if (fields.some((field) => isInputObjectType(getNamedType(field.type)))) return 'insert';
  const payload = getNamedType(mutation.type);
  return isObjectType(payload) && Object.keys(payload.getFields()).some((name) => name.startsWith('deleted')) ? 'delete' : 'other';
}

/** The fields of a mutation's `input` argument. */
export function inputFields(mutation: GraphQLField<unknown, unknown>): GraphQLInputObjectType {
  const input = getNamedType(mutation.args.find((arg) => arg.name === 'input')!.type);
  if (!isInputObjectType(input)) throw new Error(`${mutation.name}: its input is not an object`);
  return input;
}

/** The row input object inside a create mutation's input (`department: DepartmentInput!`). */
function rowInputOf(mutation: GraphQLField<unknown, unknown>): { name: string; type: GraphQLInputObjectType } {
  const field = Object.values(inputFields(mutation).getFields()).find((f) => isInputObjectType(getNamedType(f.type)))!;
  return { name: field.name, type: getNamedType(field.type) as GraphQLInputObjectType };
}

/**
 * A create mutation's input from the table's fixture (the columns a client may write), in
 * GraphQL's names; columns the input type does not have (set by the database) left out.
 */
export function createInput(mutation: GraphQLField<unknown, unknown>, table: string, refs: FixtureRefs): Record<string, unknown> {
  const rowInput = rowInputOf(mutation);
  const fields = rowInput.type.getFields();
  const values = Object.entries(FIXTURES[table]!(refs))
    .map(([column, value]) => [camel(column), value] as const)
    .filter(([field]) => fields[field])
    .map(([field, value]) => [field, argumentValue(fields[field]!.type, value)]);
  return { [rowInput.name]: Object.fromEntries(values) };
}

/**
 * The arguments that name one row, filled from that row (as superuser read it): `id` is its node
 * id, `rowId` its id, any other key field its column; `overrides` replace some (an attack's twist).
 */
export function keyValues(
  args: readonly { name: string; type: GraphQLInputType }[],
  row: Row,
  nodeId: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const keys = args.filter((arg) => !['patch', 'clientMutationId'].includes(arg.name));
  return Object.fromEntries(
    keys.map((arg) => [
      arg.name,
      arg.name in overrides ? overrides[arg.name] : arg.name === 'id' ? nodeId : argumentValue(arg.type, row[arg.name === 'rowId' ? 'id' : snake(arg.name)]),
    ]),
  );
}

/**
 * `result: name(input: $input) { clientMutationId }`, the least a mutation can select, so that only
 * the write itself is judged (selecting the row needs the SELECT policy too); or with `selection`.
 */
export function mutationDocument(mutation: GraphQLField<unknown, unknown>, selection = 'clientMutationId'): string {
  return `mutation ($input: ${String(mutation.args.find((arg) => arg.name === 'input')!.type)}) { result: ${mutation.name}(input: $input) { ${selection} } }`;
}

/** The payload field of a mutation that carries the row (`department`). */
export function payloadRowField(mutation: GraphQLField<unknown, unknown>, type: string): string {
  const payload = getNamedType(mutation.type) as GraphQLObjectType;
  return Object.values(payload.getFields()).find((field) => getNamedType(field.type).name === type)!.name;
}

/** A lookup query with its arguments as variables: `{ result: field(a: $a, …) { id } }`. */
export function lookupDocument(field: GraphQLField<unknown, unknown>): string {
  const variables = field.args.map((arg: GraphQLArgument) => `$${arg.name}: ${String(arg.type)}`).join(', ');
  const args = field.args.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
  return `query (${variables}) { result: ${field.name}(${args}) { id } }`;
}

/** The type's fields a client can select without arguments: scalars, and one level of related rows' scalars. */
export function selectionOf(type: GraphQLObjectType, depth = 1): string {
  const fields = Object.values(type.getFields()).filter((field) => field.args.every((arg) => !isNonNullType(arg.type)));
  const leaves = fields.filter((field) => isLeafType(getNamedType(field.type))).map((field) => field.name);
  if (depth === 0) return leaves.join(' ');
  const related = fields.flatMap((field) => {
    const named = getNamedType(field.type);
    if (!isObjectType(named) || named.name === 'Query') return [];
    const nodes = named.getFields().nodes;
    if (nodes) return [`${field.name} { nodes { ${selectionOf(getNamedType(nodes.type) as GraphQLObjectType, depth - 1)} } }`];
    return named.getInterfaces().some((i) => i.name === 'Node') ? [`${field.name} { ${selectionOf(named, depth - 1)} }`] : [];
  });
  return [...leaves, ...related].join(' ');
}

export interface Sweep {
  db: TestDatabase;
  clinics: Clinics;
  tables: TenantTable[];
  rows: Rows;
  app: FastifyInstance;
  schema: GraphQLSchema;
  /** A token of the clinic's actor in that role (helpers/actors.ts), as a password login issues it. */
  token(role: ClinicRole, clinic?: keyof Clinics): Promise<string>;
}

/** Two clinics with a fixture row in every tenant table and a member per role (the SQL sweep's), and the app over them. */
export async function graphqlSweep(t: Test): Promise<Sweep> {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const tables = await tenantTables(db);
  const rows = await insertFixtureRows(db, tables, clinics);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const token = (role: ClinicRole, clinic: keyof Clinics = 'a') =>
    client.clinicToken(role, { id: clinics[clinic], slug: `clinic-${clinic}` }, actorIn(db, clinics[clinic], role).account);
  return { db, clinics, tables, rows, app, schema: await app.graphql.getSchema(), token };
}
