// The patient registry: registration and changes by the front desk (clinic admins, receptionists),
// reads by every clinical role and by the patient (their own record, `me`), search, archive and
// merge, allergies and medication (clinical roles), and the chart access log. Every read of a
// record goes through the access log (src/records/chart-access.ts); search results are summaries
// and are not logged (see docs/security-model.md).
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { AppError } from '../../errors.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { type ChartReader, OWN_RECORD, readWithChartAccess } from '../../records/chart-access.ts';
import { identificationHashes, revealIdentification, sealIdentification, seesWholeNumbers } from './identification.ts';
import {
  type AccessLogRow,
  findPossibleDuplicates,
  insertHistory,
  insertPatient,
  listAccessLog,
  mergePatients,
  type PatientRow,
  type PatientValues,
  patientVisible,
  readChartHistory,
  readPatient,
  searchPatients,
  searchPatientsByName,
  updateHistory,
  updatePatient,
} from './queries.ts';
import {
  type AccessLogEntry,
  accessLogPage,
  accessLogQuery,
  chartHistory,
  chartHistoryQuery,
  historyChange,
  historyEntry,
  historyEntryParams,
  historyInput,
  mergeInput,
  mergeResult,
  type Patient,
  patient,
  patientChange,
  patientPage,
  patientParams,
  registration,
  searchQuery,
} from './schemas.ts';

export { reencryptIdentificationNumbers } from './reencrypt.ts';

const PATIENTS = 'app_public.patients';
const HISTORY = 'app_public.patient_history';
const ACCESS_LOG = 'app_public.patient_access_log';

export default async function patientRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['patients'];

  const reader = (request: FastifyRequest): ChartReader => ({ tenant: request.tenant!, supportGrantId: request.claims?.support_grant });
  const clinicOf = (request: FastifyRequest) => request.tenant!.clinicId!;

  /** The record as the caller may see it: the identification number decrypted, whole or masked by role. */
  const present = (request: FastifyRequest, { identificationNumberCiphertext, ...row }: PatientRow): Patient => ({
    ...row,
    identificationNumber: revealIdentification(
      app.fieldCipher,
      clinicOf(request),
      identificationNumberCiphertext,
      seesWholeNumbers(request.tenant!.role, request.claims?.support_grant !== undefined),
    ),
  });

  /** A client's fields as stored: the identification number sealed (encrypted, hashed), null clearing it. */
  const storable = (request: FastifyRequest, { identificationNumber, ...fields }: { identificationNumber?: string | null | undefined }): PatientValues => ({
    ...fields,
    ...(identificationNumber === undefined
      ? {}
      : { identification: identificationNumber === null ? null : sealIdentification(app.fieldCipher, clinicOf(request), identificationNumber) }),
  });

  const notFound = <T>(found: T | undefined): T => {
    if (found === undefined) throw new AppError('NOT_FOUND');
    return found;
  };

  app.get(
    '/',
    {
      ...app.permission(PATIENTS, 'select'),
      schema: { tags, params: clinicParams, querystring: searchQuery, response: { 200: patientPage } },
    },
    async (request) => {
      const { limit, after, q, dateOfBirth, phone, patientNumber, identificationNumber } = request.query;
      // The cursor's first half is the rank of a name search, the name otherwise.
      if (after && typeof after[0] !== (q === undefined ? 'string' : 'number')) {
        throw new AppError('VALIDATION_FAILED', undefined, { errors: [{ path: 'querystring.after', message: 'is not a cursor of this search' }] });
      }
      if (q !== undefined) {
        const rows = await app.withTenant(request.tenant!, (db) =>
          searchPatientsByName(db, { text: q, dateOfBirth }, limit + 1, after as [number, string] | undefined),
        );
        return toPage(rows, limit, (row) => [row.rank, row.id]);
      }
      const hashes = identificationNumber === undefined ? undefined : identificationHashes(app.fieldCipher, clinicOf(request), identificationNumber);
      const rows = await app.withTenant(request.tenant!, (db) =>
        searchPatients(db, { phone, patientNumber, dateOfBirth, identificationHashes: hashes }, limit + 1, after as [string, string] | undefined),
      );
      return toPage(rows, limit, (row) => [row.fullName, row.id]);
    },
  );

  app.post(
    '/',
    {
      ...app.permission(PATIENTS, 'insert'),
      // POSSIBLE_DUPLICATE: records like this one exist. CONFLICT: the plan's patient limit.
      // CONSTRAINT_VIOLATION: a rule of the table (a date of birth in the future).
      schema: {
        tags,
        params: clinicParams,
        body: registration,
        response: { 201: patient },
        problems: ['POSSIBLE_DUPLICATE', 'CONFLICT', 'CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => {
      const { allowDuplicate, ...fields } = request.body;
      const created = await app.withTenant(request.tenant!, async (db) => {
        if (!allowDuplicate) {
          const candidates = await findPossibleDuplicates(db, {
            fullName: fields.fullName,
            dateOfBirth: fields.dateOfBirth,
            phone: fields.phone ?? null,
            identificationHashes: fields.identificationNumber ? identificationHashes(app.fieldCipher, clinicOf(request), fields.identificationNumber) : [],
          });
          if (candidates.length > 0) {
            throw new AppError('POSSIBLE_DUPLICATE', 'Records like this one exist: use one of them, or register anyway with allowDuplicate: true.', {
              extensions: { candidates },
            });
          }
        }
        return insertPatient(db, storable(request, fields));
      });
      return reply.code(201).send(present(request, created));
    },
  );

  // The patient portal: the caller's own record (404 for anyone without one).
  app.get(
    '/me',
    {
      ...app.permission(PATIENTS, 'select'),
      schema: { tags, params: clinicParams, response: { 200: patient } },
    },
    async (request) => {
      const found = await readWithChartAccess(app, reader(request), { action: 'read_record', patientId: OWN_RECORD }, (q) => readPatient(q, { own: true }));
      return present(request, notFound(found));
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(PATIENTS, 'select'),
      schema: { tags, params: patientParams, response: { 200: patient } },
    },
    async (request) => {
      const { id } = request.params;
      const found = await readWithChartAccess(app, reader(request), { action: 'read_record', patientId: id }, (q) => readPatient(q, id));
      return present(request, notFound(found));
    },
  );

  app.patch(
    '/:id',
    {
      ...app.permission(PATIENTS, 'update'),
      // CONFLICT: the portal login is another record's. CONSTRAINT_VIOLATION: a rule of the table (a
      // number without its type, a login that is not a patient's, a merged record brought back).
      schema: { tags, params: patientParams, body: patientChange, response: { 200: patient }, problems: ['CONFLICT', 'CONSTRAINT_VIOLATION'] },
    },
    async (request) => {
      const updated = await app.withTenant(request.tenant!, (db) => updatePatient(db, request.params.id, storable(request, request.body)));
      return present(request, notFound(updated));
    },
  );

  app.post(
    '/:id/archive',
    {
      ...app.permission(PATIENTS, 'update'),
      schema: { tags, params: patientParams, response: { 200: patient } },
    },
    async (request) => {
      const archived = await app.withTenant(request.tenant!, (db) => updatePatient(db, request.params.id, { status: 'archived' }));
      return present(request, notFound(archived));
    },
  );

  app.post(
    '/:id/merge',
    {
      // Clinic admins only (receptionists may update patients, not merge them); the function checks it again.
      ...withRole(app.permission(PATIENTS, 'update'), 'clinic_admin'),
      // CONFLICT: the same record, one already merged, or both with a portal login (CBMRG).
      // CONSTRAINT_VIOLATION: no such survivor.
      schema: { tags, params: patientParams, body: mergeInput, response: { 200: mergeResult }, problems: ['CONFLICT', 'CONSTRAINT_VIOLATION'] },
    },
    async (request) => {
      const { id } = request.params;
      const { survivorId } = request.body;
      const result = await app.withTenant(request.tenant!, async (db) => {
        const moved = await mergePatients(db, id, survivorId);
        if (moved === null) return undefined;
        return { moved, merged: notFound(await readPatient(db, id)), survivor: notFound(await readPatient(db, survivorId)) };
      });
      const { moved, merged, survivor } = notFound(result);
      return { moved, merged: present(request, merged), survivor: present(request, survivor) };
    },
  );

  app.get(
    '/:id/history',
    {
      ...app.permission(HISTORY, 'select'),
      // One statement whatever the history's size (readChartHistory), recorded once in the chart access log.
      schema: {
        tags,
        summary: "A patient's history: allergies and medication, visits with their consultations, active prescriptions, test requests, follow-ups.",
        params: patientParams,
        querystring: chartHistoryQuery,
        response: { 200: chartHistory },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { limit, after } = request.query;
      const found = notFound(
        await readWithChartAccess(app, reader(request), { action: 'read_record', patientId: id }, (q) => readChartHistory(q, id, limit, after)),
      );
      const visits = toPage(found.visits, limit, (v) => [v.cursor, v.id]);
      return {
        items: found.items.map((entry) => ({ ...entry, createdAt: new Date(entry.createdAt), updatedAt: new Date(entry.updatedAt) })),
        visits: { items: visits.items.map(({ cursor: _, ...visit }) => visit), nextCursor: visits.nextCursor },
        activePrescriptions: found.activePrescriptions,
        testRequests: found.testRequests,
        followUps: found.followUps,
      } as unknown as z.infer<typeof chartHistory>;
    },
  );

  app.post(
    '/:id/history',
    {
      ...app.permission(HISTORY, 'insert'),
      schema: { tags, params: patientParams, body: historyInput, response: { 201: historyEntry } },
    },
    async (request, reply) => {
      const created = await app.withTenant(request.tenant!, (db) => insertHistory(db, request.params.id, request.body));
      return reply.code(201).send(notFound(created));
    },
  );

  app.patch(
    '/:id/history/:entryId',
    {
      ...app.permission(HISTORY, 'update'),
      // CONSTRAINT_VIOLATION: a severity on a medication.
      schema: { tags, params: historyEntryParams, body: historyChange, response: { 200: historyEntry }, problems: ['CONSTRAINT_VIOLATION'] },
    },
    async (request) => {
      const { id, entryId } = request.params;
      return notFound(await app.withTenant(request.tenant!, (db) => updateHistory(db, id, entryId, request.body)));
    },
  );

  app.get(
    '/:id/access-log',
    {
      ...app.permission(ACCESS_LOG, 'select'),
      schema: { tags, params: patientParams, querystring: accessLogQuery, response: { 200: accessLogPage } },
    },
    async (request) => {
      const { id } = request.params;
      const { limit, after } = request.query;
      const rows = await app.withTenant(request.tenant!, async (db) => ((await patientVisible(db, id)) ? listAccessLog(db, id, limit + 1, after) : undefined));
      // The patient learns who read their record and when; the request and address are the clinic's.
      const page = toPage(notFound(rows), limit, (row) => [row.cursorTime, row.id]);
      const forAdmin = request.tenant!.role === 'clinic_admin';
      return { ...page, items: page.items.map((row) => accessLogEntryOf(row, forAdmin)) };
    },
  );
}

/** A route permission with one more condition: only `role` (403 before the input is read, like the permission). */
function withRole<T extends { preValidation: preHandlerAsyncHookHandler[] }>(permission: T, role: string): T {
  const requireRole: preHandlerAsyncHookHandler = async (request) => {
    if (request.tenant?.role !== role) throw new AppError('FORBIDDEN');
  };
  return { ...permission, preValidation: [...permission.preValidation, requireRole] };
}

function accessLogEntryOf(row: AccessLogRow, forAdmin: boolean): AccessLogEntry {
  const viewer =
    row.supportGrantId === null
      ? { kind: 'member' as const, memberId: row.memberId, displayName: row.displayName ?? 'A member of the clinic', role: row.role }
      : { kind: 'support' as const, memberId: null, displayName: 'Platform support', role: null };
  const entry = { id: row.id, action: row.action, fileId: row.fileId, accessedAt: row.accessedAt, viewer };
  return forAdmin ? { ...entry, supportGrantId: row.supportGrantId, requestId: row.requestId, clientIp: row.clientIp } : entry;
}
