// Prescriptions: written by the consultation's doctor, issued, completed or cancelled. The state
// machine, the number (RX-YYYY-NNNNN), the locks and the allergy rule are the database's
// (migrations: 0210-prescription-rules); this module adds the drafts' optimistic concurrency
// (ETag/If-Match), the allergy 409 naming what to acknowledge, and the PDF. Reading one (or its
// PDF, or a patient's list) is a chart read, recorded in the access log.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { TenantDb } from '../../db/tenant.ts';
import { type AllergyConflict, AppError } from '../../errors.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { etagOf, requireVersion } from '../../http/preconditions.ts';
import { type ChartReader, readWithChartAccess } from '../../records/chart-access.ts';
import { attachmentDisposition } from '../../http/disposition.ts';
import { renderPrescriptionPdf } from './pdf.ts';
import { camelRows } from './queries.ts';
import {
  type Change,
  deleteItems,
  findState,
  insertAcknowledgements,
  insertItems,
  insertPrescription,
  listPrescriptions,
  readPdfData,
  readPrescription,
  unacknowledgedAllergies,
  updatePrescription,
} from './queries.ts';
import { cancelBody, createBody, issueBody, listQuery, patchBody, type Prescription, prescription, prescriptionPage, prescriptionParams } from './schemas.ts';

const RESOURCE = 'app_public.prescriptions';

/** The nested rows come back as JSON, as the database names them (snake_case) and with timestamps as strings. */
function present(row: NonNullable<Awaited<ReturnType<typeof readPrescription>>>): Prescription {
  return {
    ...row,
    items: camelRows(row.items) as Prescription['items'],
    allergyAcknowledgements: (
      camelRows(row.allergyAcknowledgements) as (Omit<Prescription['allergyAcknowledgements'][number], 'createdAt'> & { createdAt: string })[]
    ).map((a) => ({
      ...a,
      createdAt: new Date(a.createdAt),
    })),
  };
}

/** The 409 naming each unacknowledged allergy and the items that match it. */
function allergyProblem(matches: Awaited<ReturnType<typeof unacknowledgedAllergies>>): AppError {
  const allergies = new Map<string, AllergyConflict>();
  for (const match of matches) {
    const conflict = allergies.get(match.allergyId) ?? { allergyId: match.allergyId, name: match.allergyName, itemPositions: [] };
    conflict.itemPositions.push(match.itemPosition);
    allergies.set(match.allergyId, conflict);
  }
  const names = [...allergies.values()].map((a) => `"${a.name}"`).join(', ');
  return new AppError(
    'ALLERGY_ACKNOWLEDGEMENT_REQUIRED',
    `The prescription matches the patient's allergy ${names}: acknowledge it in allergyAcknowledgements to issue it.`,
    {
      errors: matches.map((m) => ({
        path: `items.${m.itemPosition - 1}.medicineName`,
        message: `matches the allergy "${m.allergyName}" (allergyId ${m.allergyId})`,
      })),
      extensions: { allergies: [...allergies.values()] },
    },
  );
}

export default async function prescriptionRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['prescriptions'];
  const reader = (request: FastifyRequest): ChartReader => ({ tenant: request.tenant!, supportGrantId: request.claims?.support_grant });

  /** The prescription as the caller may read it, recorded in the chart access log; 404 when unseen. */
  async function readOne(request: FastifyRequest, id: string): Promise<Prescription> {
    const state = await app.withTenant(request.tenant!, (db) => findState(db, id));
    if (!state) throw new AppError('NOT_FOUND');
    const found = await readWithChartAccess(app, reader(request), { action: 'read_record', patientId: state.patientId }, (q) => readPrescription(q, id));
    if (!found) throw new AppError('NOT_FOUND');
    return present(found);
  }

  /** A write at the version the client read: no row → 404 when unseen, 409 when stale, 403 when not the author's. */
  async function write(db: TenantDb, id: string, version: number, change: Change): Promise<void> {
    const written = await updatePrescription(db, id, version, change);
    if (written) return;
    const state = await findState(db, id);
    if (!state) throw new AppError('NOT_FOUND');
    if (state.version !== version) throw new AppError('VERSION_CONFLICT', `The prescription is at version ${state.version}: read it again.`);
    throw new AppError('FORBIDDEN', 'Only the prescribing doctor changes a prescription.');
  }

  const answer = async (request: FastifyRequest, reply: { header(name: string, value: string): unknown }, id: string) => {
    const read = await readOne(request, id);
    reply.header('etag', etagOf(read.version));
    return read;
  };

  app.post(
    '/',
    {
      ...app.permission(RESOURCE, 'insert'),
      // 403: not the consultation's doctor (or the consultation is not draft or signed); 422: an unknown consultation.
      schema: {
        tags,
        summary: "A draft prescription of a consultation, by the consultation's doctor.",
        params: clinicParams,
        body: createBody,
        response: { 201: prescription },
        problems: ['CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => {
      const { consultationId, notes, items } = request.body;
      const id = await app.withTenant(request.tenant!, async (db) => {
        const created = await insertPrescription(db, consultationId, notes ?? null);
        if (!created) {
          throw new AppError('CONSTRAINT_VIOLATION', 'refers to something that does not exist', {
            errors: [{ path: 'body.consultationId', message: 'refers to something that does not exist' }],
          });
        }
        await insertItems(db, created.id, created.patientId, items);
        return created.id;
      });
      const created = await answer(request, reply, id);
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: {
        tags,
        summary: "A patient's prescriptions, newest first (a chart read).",
        params: clinicParams,
        querystring: listQuery,
        response: { 200: prescriptionPage },
      },
    },
    async (request) => {
      const { limit, after, patientId, status } = request.query;
      const rows = await readWithChartAccess(app, reader(request), { action: 'read_record', patientId }, (q) =>
        listPrescriptions(q, { patientId, status, after: after as [string, string] | undefined }, limit + 1),
      );
      const { items, nextCursor } = toPage(rows ?? [], limit, (p) => [p.cursorTime, p.id]);
      return { items: items.map(({ cursorTime: _cursorTime, ...p }) => p), nextCursor };
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: {
        tags,
        summary: 'A prescription with its items and acknowledged allergies; ETag: its version.',
        params: prescriptionParams,
        response: { 200: prescription },
      },
    },
    async (request, reply) => answer(request, reply, request.params.id),
  );

  app.patch(
    '/:id',
    {
      ...app.permission(RESOURCE, 'update'),
      schema: {
        tags,
        summary: 'Change a draft (If-Match): its notes, and its items as a whole list.',
        params: prescriptionParams,
        body: patchBody,
        response: { 200: prescription },
        problems: ['PRECONDITION_REQUIRED', 'VERSION_CONFLICT', 'RECORD_LOCKED', 'INVALID_TRANSITION'],
      },
    },
    async (request, reply) => {
      const version = requireVersion(request);
      const { id } = request.params;
      const { notes, items } = request.body;
      await app.withTenant(request.tenant!, async (db) => {
        // The update first: it checks the version and the lock, and holds the row while the items change.
        await write(db, id, version, { notes });
        if (items) {
          const state = await findState(db, id);
          await deleteItems(db, id);
          await insertItems(db, id, state!.patientId, items);
        }
      });
      return answer(request, reply, id);
    },
  );

  app.post(
    '/:id/issue',
    {
      ...app.permission(RESOURCE, 'update'),
      schema: {
        tags,
        summary:
          "Issue a draft (If-Match): it gets its number and is locked. A medicine matching an active allergy of the patient needs that allergy's acknowledgement.",
        params: prescriptionParams,
        body: issueBody,
        response: { 200: prescription },
        problems: [
          'PRECONDITION_REQUIRED',
          'VERSION_CONFLICT',
          'INVALID_TRANSITION',
          'RECORD_LOCKED',
          'ALLERGY_ACKNOWLEDGEMENT_REQUIRED',
          'CONSTRAINT_VIOLATION',
          'CONFLICT',
        ],
      },
    },
    async (request, reply) => {
      const version = requireVersion(request);
      const { id } = request.params;
      await app.withTenant(request.tenant!, async (db) => {
        const state = await findState(db, id);
        if (!state) throw new AppError('NOT_FOUND');
        if (state.version !== version) throw new AppError('VERSION_CONFLICT', `The prescription is at version ${state.version}: read it again.`);
        if (state.status === 'draft') {
          await insertAcknowledgements(db, id, state.patientId, request.body?.allergyAcknowledgements ?? []);
          const open = await unacknowledgedAllergies(db, id);
          if (open.length > 0) throw allergyProblem(open);
        }
        // The database decides the move (and checks the allergies again, for every path).
        await write(db, id, version, { status: 'issued' });
      });
      return answer(request, reply, id);
    },
  );

  app.post(
    '/:id/complete',
    {
      ...app.permission(RESOURCE, 'update'),
      schema: {
        tags,
        summary: 'Complete an issued prescription (dispensed in full) (If-Match).',
        params: prescriptionParams,
        response: { 200: prescription },
        problems: ['PRECONDITION_REQUIRED', 'VERSION_CONFLICT', 'INVALID_TRANSITION'],
      },
    },
    async (request, reply) => {
      const version = requireVersion(request);
      await app.withTenant(request.tenant!, (db) => write(db, request.params.id, version, { status: 'completed' }));
      return answer(request, reply, request.params.id);
    },
  );

  app.post(
    '/:id/cancel',
    {
      ...app.permission(RESOURCE, 'update'),
      schema: {
        tags,
        summary: 'Cancel a draft or issued prescription, with the reason (If-Match).',
        params: prescriptionParams,
        body: cancelBody,
        response: { 200: prescription },
        problems: ['PRECONDITION_REQUIRED', 'VERSION_CONFLICT', 'INVALID_TRANSITION'],
      },
    },
    async (request, reply) => {
      const version = requireVersion(request);
      await app.withTenant(request.tenant!, (db) => write(db, request.params.id, version, { status: 'cancelled', cancellationReason: request.body.reason }));
      return answer(request, reply, request.params.id);
    },
  );

  app.get(
    '/:id/pdf',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: {
        tags,
        summary: 'The issued (or completed) prescription as a PDF (a chart read); 409 INVALID_TRANSITION (rule prescription_pdf_needs_issue) otherwise.',
        params: prescriptionParams,
        response: { 200: { description: 'The prescription, printable.', content: { 'application/pdf': { schema: z.string().meta({ format: 'binary' }) } } } },
        problems: ['INVALID_TRANSITION'],
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const state = await app.withTenant(request.tenant!, (db) => findState(db, id));
      if (!state) throw new AppError('NOT_FOUND');
      if (state.status !== 'issued' && state.status !== 'completed') {
        throw new AppError('INVALID_TRANSITION', 'Only issued and completed prescriptions have a PDF.', {
          extensions: { rule: 'prescription_pdf_needs_issue' },
        });
      }
      const data = await readWithChartAccess(app, reader(request), { action: 'read_record', patientId: state.patientId }, (q) => readPdfData(q, id));
      if (!data) throw new AppError('NOT_FOUND');
      const document = renderPrescriptionPdf({ ...data, items: camelRows(data.items) });
      return reply
        .type('application/pdf')
        .header('content-disposition', attachmentDisposition(`${String(data.prescriptionNumber)}.pdf`))
        .header('cache-control', 'no-store')
        .send(document as unknown as string);
    },
  );
}
