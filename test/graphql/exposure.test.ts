// What the GraphQL schema offers, read from the schema the app serves, with every expectation
// written out: the mutations and root queries by name, what each create and patch accepts, which
// columns filter and order, and what never appears (clinic_id in any input, the identification
// number's ciphertext and hash, anything of app_private, app_hidden or app_audit, the context helpers).
import {
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isObjectType,
} from 'graphql';
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { createTestDatabase } from '../helpers/db.ts';

const db = await createTestDatabase(t);
const { app } = await buildTestApp(t, db.authenticatorUrl);
const schema: GraphQLSchema = await app.graphql.getSchema();

const userTypes = Object.values(schema.getTypeMap()).filter((type) => !type.name.startsWith('__'));
const fieldsOf = (name: string): string[] => {
  const type = schema.getType(name);
  if (!type || !(isObjectType(type) || isInputObjectType(type))) return [`(no type ${name})`];
  return Object.keys(type.getFields()).sort();
};
const valuesOf = (name: string): string[] => {
  const type = schema.getType(name);
  return type && isEnumType(type)
    ? type
        .getValues()
        .map((value) => value.name)
        .sort()
    : [`(no enum ${name})`];
};

/** Every name the schema shows: types, fields, arguments, input fields and enum values, as `Type.field(arg)`. */
function everyName(): string[] {
  const names: string[] = [];
  for (const type of userTypes) {
    names.push(type.name);
    if (isEnumType(type)) names.push(...type.getValues().map((value) => `${type.name}.${value.name}`));
    if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
      for (const field of Object.values(type.getFields()) as (GraphQLField<unknown, unknown> | GraphQLInputField)[]) {
        names.push(`${type.name}.${field.name}`);
        const args: readonly GraphQLArgument[] = 'args' in field ? field.args : [];
        names.push(...args.map((arg) => `${type.name}.${field.name}(${arg.name})`));
      }
    }
  }
  return names;
}

t.test('the mutations, literally: only the workflows whose rules are SQL', async (t) => {
  t.same(Object.keys(schema.getMutationType()?.getFields() ?? {}).sort(), [
    'callNextVisit',
    'createAppointment',
    'createClinicIcd10Code',
    'createDepartment',
    'createDoctorTimeOff',
    'createPatientHistory',
    'createVisit',
    'deleteDepartment',
    'deleteDoctorTimeOff',
    'updateAppointment',
    'updateClinicMember',
    'updateClinicSetting',
    'updateDepartment',
    'updatePatient',
    'updatePatientHistory',
    'updateVisit',
  ]);
});

t.test('the root queries, literally: rows by their id or a natural key, never with a clinic id', async (t) => {
  t.same(Object.keys(schema.getQueryType()?.getFields() ?? {}).sort(), [
    'appointment',
    'appointmentById',
    'appointments',
    'clinic',
    'clinicById',
    'clinicBySlug',
    'clinicIcd10Code',
    'clinicIcd10CodeById',
    'clinicIcd10Codes',
    'clinicMember',
    'clinicMemberById',
    'clinicMembers',
    'clinicSetting',
    'clinicSettingById',
    'clinicSettings',
    'clinics',
    'consultation',
    'consultationAddenda',
    'consultationAddendum',
    'consultationAddendumById',
    'consultationById',
    'consultations',
    'department',
    'departmentByCode',
    'departmentById',
    'departments',
    'diagnoses',
    'diagnosis',
    'diagnosisById',
    'doctorFreeSlots',
    'doctorQueue',
    'doctorTimeOff',
    'doctorTimeOffById',
    'doctorTimeOffs',
    'doctorWaitEstimate',
    'file',
    'fileById',
    'files',
    'followUp',
    'followUpById',
    'followUps',
    'node',
    'patient',
    'patientAccessLog',
    'patientAccessLogById',
    'patientAccessLogs',
    'patientById',
    'patientByPatientNumber',
    'patientHistories',
    'patientHistory',
    'patientHistoryById',
    'patients',
    'prescription',
    'prescriptionAllergyAcknowledgement',
    'prescriptionAllergyAcknowledgementById',
    'prescriptionAllergyAcknowledgements',
    'prescriptionById',
    'prescriptionItem',
    'prescriptionItemById',
    'prescriptionItems',
    'prescriptions',
    'supportAccessGrant',
    'supportAccessGrantById',
    'supportAccessGrants',
    'testReport',
    'testReportById',
    'testReports',
    'testRequest',
    'testRequestById',
    'testRequests',
    'testResult',
    'testResultById',
    'testResults',
    'visit',
    'visitById',
    'visitByVisitDateAndTokenNumber',
    'visitQueuePosition',
    'visits',
    'vital',
    'vitalById',
    'vitals',
  ]);
  const args = (field: string) =>
    schema
      .getQueryType()
      ?.getFields()
      [field]?.args.map((arg) => arg.name);
  t.same(args('department'), ['rowId'], 'a row by its id alone');
  t.same(args('departmentByCode'), ['code']);
  t.same(args('patientByPatientNumber'), ['patientNumber']);
  t.same(args('visitByVisitDateAndTokenNumber'), ['visitDate', 'tokenNumber']);
});

t.test('relations are named after the columns other than clinic_id', async (t) => {
  t.same(
    fieldsOf('Appointment').filter((name) => ['doctor', 'patient', 'clinicMemberByBookedBy', 'visit'].includes(name)),
    ['clinicMemberByBookedBy', 'doctor', 'patient', 'visit'],
  );
  t.same(
    fieldsOf('Patient').filter((name) => ['appointments', 'files', 'member', 'mergedInto', 'patientAccessLogs', 'patientHistories', 'visits'].includes(name)),
    ['appointments', 'files', 'member', 'mergedInto', 'patientAccessLogs', 'patientHistories', 'visits'],
  );
  t.same(
    fieldsOf('Visit').filter((name) => ['appointment', 'doctor', 'patient'].includes(name)),
    ['appointment', 'doctor', 'patient'],
  );
  t.same(
    everyName().filter((name) => /\.clinic(Doctor|Patient|Appointment|MergedInto)|ByClinicId/.test(name)),
    [],
    'no `clinicDoctor`, no `…ByClinicIdAnd…`',
  );
});

t.test('what each create and patch accepts, literally', async (t) => {
  const accepted: Record<string, string[]> = {
    AppointmentInput: ['doctorId', 'endsAt', 'patientId', 'reason', 'startsAt'],
    // Moving a booking only: its reason stays as booked, as in REST; its status moves stay REST's.
    AppointmentPatch: ['doctorId', 'endsAt', 'startsAt'],
    // Role and status: REST ends the member's tokens after a change; office hours: their shape is checked in TypeScript.
    // A clinic's own ICD-10 code: who added it is the database's.
    ClinicIcd10CodeInput: ['code', 'description'],
    ClinicMemberPatch: ['consultationFee', 'displayName', 'licenceNumber', 'qualification', 'specialisation'],
    ClinicSettingPatch: [
      'appointmentSlotMinutes',
      'brandLogoUrl',
      'brandPrimaryColour',
      'brandSecondaryColour',
      'currency',
      'noShowGraceMinutes',
      'requireTwoFactor',
      'retentionDays',
      'sessionIdleMinutes',
      'taxRate',
    ],
    DepartmentInput: ['code', 'description', 'isActive', 'name'],
    DepartmentPatch: ['code', 'description', 'isActive', 'name'],
    DoctorTimeOffInput: ['doctorId', 'endsAt', 'reason', 'startsAt'],
    PatientHistoryInput: ['detail', 'isActive', 'kind', 'name', 'patientId', 'severity'],
    PatientHistoryPatch: ['detail', 'isActive', 'name', 'severity'],
    // No identification number (encrypted by the app), no mergedIntoId (set by the merge only).
    PatientPatch: [
      'address',
      'bloodGroup',
      'contactChannel',
      'dateOfBirth',
      'email',
      'emergencyContactName',
      'emergencyContactPhone',
      'fullName',
      'identificationType',
      'memberId',
      'phone',
      'sex',
      'status',
    ],
    VisitInput: ['appointmentId', 'doctorId', 'patientId', 'priority', 'purpose'],
    // The queue moves, each judged by the state machine's trigger.
    VisitPatch: ['status'],
  };
  for (const [type, fields] of Object.entries(accepted)) t.same(fieldsOf(type), fields, type);
  t.same(
    userTypes
      .filter((type) => isInputObjectType(type) && /(Input|Patch)$/.test(type.name) && !/^(Create|Update|Delete|CallNextVisit)/.test(type.name))
      .map((type) => type.name)
      .sort(),
    Object.keys(accepted).sort(),
    'and no other create or patch input exists',
  );
});

t.test('no input type takes a clinic id: every input type, field by field', async (t) => {
  const inputs = userTypes.filter(isInputObjectType);
  t.ok(inputs.length > 40, `${inputs.length} input types checked`);
  for (const type of inputs) {
    t.same(
      Object.keys(type.getFields()).filter((name) => /clinicId/i.test(name)),
      [],
      type.name,
    );
  }
  t.same(
    everyName().filter((name) => /clinicId|CLINIC_ID/.test(name)),
    [],
    'nor any field, argument or ordering anywhere: the context gives the clinic',
  );
});

t.test('the identification number is nowhere: no field, filter, condition or ordering', async (t) => {
  t.same(
    everyName().filter((name) => /ciphertext|hmac|identificationNumber|IDENTIFICATION_NUMBER/i.test(name)),
    [],
  );
});

t.test('nothing of app_private, app_hidden or app_audit, nor the context helpers', async (t) => {
  const { rows } = await db.admin.query<{ name: string }>(`
    select c.relname as name from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('app_private', 'app_hidden', 'app_audit') and c.relkind in ('r', 'v', 'm', 'p')
    union
    select p.proname from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('app_private', 'app_hidden', 'app_audit')`);
  t.ok(rows.length > 30, `${rows.length} tables and functions of the private schemas`);
  const squashed = (name: string) => name.replaceAll('_', '').toLowerCase();
  const hidden = new Set(rows.map((row) => squashed(row.name)));
  // A table's type is singular (accounts → Account); its connection plural, as the table.
  const singular = (name: string) => name.replace(/s$/, '');
  const shown = everyName()
    .flatMap((name) => name.split(/[.()]/))
    .filter(Boolean);
  t.same(
    [...new Set(shown.filter((name) => hidden.has(squashed(name)) || hidden.has(`${squashed(name)}s`) || hidden.has(singular(squashed(name)))))],
    // plans: app_private.plans names the Clinic's `plan` column (a code), not a table in the schema.
    ['plan'],
    'no type, field or argument is named after one of them',
  );
  for (const name of [
    'mergePatients',
    'searchPatientsByName',
    'inviteMember',
    'onboardClinic',
    'Account',
    'AuditLog',
    'RefreshToken',
    'Invitation',
    'PlatformOperator',
  ]) {
    t.notOk(shown.includes(name), `${name} is not in the schema`);
  }
  for (const helper of ['currentClinicId', 'currentUserId', 'currentAppRole', 'currentMemberId', 'currentPatientId', 'currentRoleIs', 'currentClinicDate']) {
    t.notOk(shown.includes(helper), `${helper} (policy plumbing) is not in the schema`);
  }
});

t.test('filters and orderings: only the declared, indexed columns', async (t) => {
  /** The fields of the table's type that hold a column's value (scalars), which a filter may name. */
  const columnsOf = (table: string): string[] => {
    const type = schema.getType(table);
    if (!type || !isObjectType(type)) return [];
    return Object.values(type.getFields())
      .filter((field) => isLeafType(getNamedType(field.type)) && field.name !== 'id')
      .map((field) => field.name);
  };
  const filterable: Record<string, string[]> = {
    Appointment: ['doctorId', 'patientId', 'startsAt', 'status'],
    ClinicMember: ['licenceNumber', 'role', 'status'],
    Department: ['code', 'isActive'],
    DoctorTimeOff: ['doctorId', 'startsAt'],
    File: ['patientId'],
    FollowUp: ['doctorId', 'patientId'],
    Patient: ['dateOfBirth', 'fullName', 'patientNumber', 'phoneNormalised'],
    PatientAccessLog: ['accessedAt', 'patientId'],
    PatientHistory: ['kind', 'patientId'],
    Prescription: ['patientId', 'status'],
    Visit: ['doctorId', 'patientId', 'status', 'visitDate'],
  };
  for (const [table, columns] of Object.entries(filterable)) {
    t.same(fieldsOf(`${table}Condition`), columns, `${table}Condition`);
    const shown = columnsOf(table);
    t.same(
      fieldsOf(`${table}Filter`).filter((name) => shown.includes(name)),
      columns,
      `${table}Filter: those columns and no other`,
    );
    // No filter through a relation: `patientHistories: { some: { kind } }` or `filesExist` would tell
    // what a patient's chart holds without reading it, so without the chart access log.
    t.same(
      fieldsOf(`${table}Filter`).filter((name) => !shown.includes(name)),
      ['and', 'not', 'or'],
      `${table}Filter: besides the columns, only and/or/not`,
    );
  }
  // Nor by counting: a patient's allergies or files counted without reading a row.
  for (const connection of ['PatientHistoryConnection', 'FileConnection', 'FollowUpConnection']) {
    t.notOk(fieldsOf(connection).includes('totalCount'), `${connection}: no totalCount`);
  }
  t.ok(fieldsOf('PatientConnection').includes('totalCount'), 'other connections count (the check above can fail)');
  for (const table of ['Clinic', 'ClinicSetting', 'SupportAccessGrant']) t.notOk(schema.getType(`${table}Condition`), `${table}: no condition`);
  const orderable: Record<string, string[]> = {
    Appointment: ['STARTS_AT'],
    ClinicMember: ['DISPLAY_NAME'],
    Department: ['CODE'],
    DoctorTimeOff: ['STARTS_AT'],
    File: ['CREATED_AT'],
    Patient: ['DATE_OF_BIRTH', 'PATIENT_NUMBER'],
    PatientAccessLog: ['ACCESSED_AT'],
    SupportAccessGrant: ['CREATED_AT'],
    Visit: ['TOKEN_NUMBER', 'VISIT_DATE'],
  };
  for (const [table, columns] of Object.entries(orderable)) {
    t.same(
      valuesOf(`${table}OrderBy`),
      [...columns.flatMap((column) => [`${column}_ASC`, `${column}_DESC`]), 'NATURAL', 'PRIMARY_KEY_ASC', 'PRIMARY_KEY_DESC'].sort(),
      `${table}OrderBy`,
    );
  }
});
