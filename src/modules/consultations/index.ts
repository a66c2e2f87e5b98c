// Consultations: the visit's doctor opens one from a visit in their queue (the visit moves to
// in_consultation), writes the draft with vital signs (nurses too) and ICD-10 diagnoses, and signs
// it (the visit completes; the consultation, its vital signs and diagnoses lock, in the database).
// Corrections are addenda. Drafts carry a version: GET answers it as the ETag, every write needs it
// back as If-Match (428 without, 409 VERSION_CONFLICT when stale). Every read of a consultation is
// recorded in the chart access log. Two plugins: consultations, and the ICD-10 look-up (icd10).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { TenantDb } from '../../db/tenant.ts';
import { AppError } from '../../errors.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { etagOf, requireVersion } from '../../http/preconditions.ts';
import { type ChartReader, readWithChartAccess } from '../../records/chart-access.ts';
import {
  consultationExists,
  insertAddendum,
  insertDiagnosis,
  insertIcd10,
  insertVitals,
  listConsultations,
  openConsultation,
  patchConsultation,
  readConsultation,
  recordListedPatients,
  searchIcd10,
  signConsultation,
  stateOf,
  updateDiagnosis,
} from './queries.ts';
import {
  addendum,
  addendumBody,
  consultation,
  consultationPage,
  consultationParams,
  diagnosis,
  diagnosisBody,
  diagnosisParams,
  diagnosisPatch,
  icd10Body,
  icd10Code,
  icd10List,
  icd10Query,
  listQuery,
  openBody,
  patchBody,
  vitals,
  vitalsBody,
  type Consultation,
} from './schemas.ts';

const CONSULTATIONS = 'app_public.consultations';

export async function consultationRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['consultations'];
  const reader = (request: FastifyRequest): ChartReader => ({ tenant: request.tenant!, supportGrantId: request.claims?.support_grant });

  /** The consultation as the caller may see it, its read recorded; 404 when they may not. */
  const read = async (request: FastifyRequest, id: string): Promise<Consultation> => {
    const found = await readWithChartAccess(app, reader(request), { action: 'read_record', recordOf: CONSULTATIONS, id }, (q) => readConsultation(q, id));
    if (!found) throw new AppError('NOT_FOUND');
    return found;
  };
  const withEtag = (reply: FastifyReply, found: Consultation) => reply.header('etag', etagOf(found.version)).send(found);

  /** Why a versioned write matched no row: unseen (404), signed (locked), not the author's (403) or stale (409). */
  const refusal = async (db: TenantDb, id: string, signing: boolean): Promise<AppError> => {
    const state = await stateOf(db, id);
    if (!state) return new AppError('NOT_FOUND');
    if (state.status === 'signed') {
      return signing
        ? new AppError('INVALID_TRANSITION', 'The consultation is signed already.', { extensions: { rule: 'consultation_status_transition' } })
        : new AppError('RECORD_LOCKED', undefined, { extensions: { rule: 'consultation_signed_is_final' } });
    }
    if (!state.mine) return new AppError('FORBIDDEN', 'Only the author changes or signs a draft.');
    return new AppError('VERSION_CONFLICT', `The consultation is at version ${state.version}: read it again.`, {
      headers: { etag: etagOf(state.version) },
    });
  };

  app.post(
    '/',
    {
      ...app.permission(CONSULTATIONS, 'insert'),
      // 409: the visit is not waiting, called or in consultation, or has a consultation already;
      // 422: an unknown visit, or one that is not in the caller's queue.
      schema: {
        tags,
        summary: "Open a consultation from a visit in the caller's queue (waiting or called): the visit moves to in_consultation.",
        params: clinicParams,
        body: openBody,
        response: { 201: consultation.describe('The draft; ETag: its version.') },
        problems: ['INVALID_TRANSITION', 'CONFLICT', 'CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => {
      const id = await app.withTenant(request.tenant!, (db) => openConsultation(db, request.body));
      reply.code(201);
      return withEtag(reply, await read(request, id));
    },
  );

  app.get(
    '/',
    {
      ...app.permission(CONSULTATIONS, 'select'),
      schema: {
        tags,
        summary: 'Consultations, newest first, by patient, doctor or status.',
        params: clinicParams,
        querystring: listQuery,
        response: { 200: consultationPage },
      },
    },
    async (request) => {
      const { limit } = request.query;
      const patientId = request.query.patientId;
      const rows = patientId
        ? ((await readWithChartAccess(app, reader(request), { action: 'read_record', patientId }, (q) => listConsultations(q, request.query, limit + 1))) ?? [])
        : await app.withTenant(request.tenant!, async (db) => {
            const found = await listConsultations(db, request.query, limit + 1);
            await recordListedPatients(db, [...new Set(found.slice(0, limit).map((c) => c.patientId))]);
            return found;
          });
      const { items, nextCursor } = toPage(rows, limit, (c) => [c.cursorTime, c.id]);
      return { items: items.map(({ cursorTime: _cursorTime, ...c }) => c), nextCursor };
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(CONSULTATIONS, 'select'),
      schema: {
        tags,
        summary: 'A consultation with its vital signs, diagnoses and addenda; ETag: its version.',
        params: consultationParams,
        response: { 200: consultation },
      },
    },
    async (request, reply) => withEtag(reply, await read(request, request.params.id)),
  );

  app.patch(
    '/:id',
    {
      ...app.permission(CONSULTATIONS, 'update'),
      schema: {
        tags,
        summary: "Change a draft (its author; If-Match: the version read). The answer's ETag is the new version.",
        params: consultationParams,
        body: patchBody,
        response: { 200: consultation },
        problems: ['PRECONDITION_REQUIRED', 'VERSION_CONFLICT', 'RECORD_LOCKED', 'CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => {
      const version = requireVersion(request);
      await app.withTenant(request.tenant!, async (db) => {
        if (!(await patchConsultation(db, request.params.id, version, request.body))) throw await refusal(db, request.params.id, false);
      });
      return withEtag(reply, await read(request, request.params.id));
    },
  );

  app.post(
    '/:id/sign',
    {
      ...app.permission(CONSULTATIONS, 'update'),
      schema: {
        tags,
        summary: 'Sign a draft (its author; If-Match): it locks with its vital signs and diagnoses, and the visit completes.',
        params: consultationParams,
        response: { 200: consultation },
        problems: ['PRECONDITION_REQUIRED', 'VERSION_CONFLICT', 'INVALID_TRANSITION'],
      },
    },
    async (request, reply) => {
      const version = requireVersion(request);
      await app.withTenant(request.tenant!, async (db) => {
        if (!(await signConsultation(db, request.params.id, version))) throw await refusal(db, request.params.id, true);
      });
      return withEtag(reply, await read(request, request.params.id));
    },
  );

  /** A child's write under a consultation the caller cannot see is a 404, like an unknown one. */
  const under = async <T>(request: FastifyRequest, id: string, write: (db: TenantDb) => Promise<T>): Promise<T> =>
    app.withTenant(request.tenant!, async (db) => {
      if (!(await consultationExists(db, id))) throw new AppError('NOT_FOUND');
      return write(db);
    });

  app.post(
    '/:id/vitals',
    {
      ...app.permission('app_public.vitals', 'insert'),
      schema: {
        tags,
        summary: 'Record vital signs in a draft (its author or a nurse); units in the field names, ranges checked by the database (422 naming the field).',
        params: consultationParams,
        body: vitalsBody,
        response: { 201: vitals },
        problems: ['RECORD_LOCKED', 'CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => reply.code(201).send(await under(request, request.params.id, (db) => insertVitals(db, request.params.id, request.body))),
  );

  app.post(
    '/:id/diagnoses',
    {
      ...app.permission('app_public.diagnoses', 'insert'),
      schema: {
        tags,
        summary: "Add an ICD-10 diagnosis to a draft (its author); the text defaults to the code's. One primary per consultation (409).",
        params: consultationParams,
        body: diagnosisBody,
        response: { 201: diagnosis },
        problems: ['RECORD_LOCKED', 'CONFLICT', 'CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => reply.code(201).send(await under(request, request.params.id, (db) => insertDiagnosis(db, request.params.id, request.body))),
  );

  app.patch(
    '/:id/diagnoses/:diagnosisId',
    {
      ...app.permission('app_public.diagnoses', 'update'),
      schema: {
        tags,
        summary: 'Change a diagnosis of a draft (its author).',
        params: diagnosisParams,
        body: diagnosisPatch,
        response: { 200: diagnosis },
        problems: ['RECORD_LOCKED', 'CONFLICT', 'CONSTRAINT_VIOLATION'],
      },
    },
    async (request) => {
      const changed = await under(request, request.params.id, (db) => updateDiagnosis(db, request.params.id, request.params.diagnosisId, request.body));
      if (!changed) throw new AppError('NOT_FOUND');
      return changed;
    },
  );

  app.post(
    '/:id/addenda',
    {
      ...app.permission('app_public.consultation_addenda', 'insert'),
      schema: {
        tags,
        summary: 'Add a signed addendum to a signed consultation (doctors): the way to correct it. Never changed.',
        params: consultationParams,
        body: addendumBody,
        response: { 201: addendum },
        problems: ['INVALID_TRANSITION'],
      },
    },
    async (request, reply) => reply.code(201).send(await under(request, request.params.id, (db) => insertAddendum(db, request.params.id, request.body.body))),
  );
}

export async function icd10Routes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['consultations'];
  const CODES = 'app_public.clinic_icd10_codes';

  app.get(
    '/',
    {
      ...app.permission(CODES, 'select'),
      schema: {
        tags,
        summary: "Look up ICD-10 codes by code prefix or words of their text: the clinic's own codes, then the bundled list of common codes.",
        params: clinicParams,
        querystring: icd10Query,
        response: { 200: icd10List },
      },
    },
    async (request) => ({ items: await app.withTenant(request.tenant!, (db) => searchIcd10(db, request.query.q, request.query.limit)) }),
  );

  app.post(
    '/',
    {
      ...app.permission(CODES, 'insert'),
      schema: {
        tags,
        summary: "Add a code to the clinic's list (409 when it has it already).",
        params: clinicParams,
        body: icd10Body,
        response: { 201: icd10Code },
        problems: ['CONFLICT'],
      },
    },
    async (request, reply) => reply.code(201).send(await app.withTenant(request.tenant!, (db) => insertIcd10(db, request.body.code, request.body.description))),
  );
}
