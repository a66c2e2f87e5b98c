// The lab (issue 11, point 5): doctors request tests, lab technicians move the requests (collected,
// in progress), write the one report of a request with its structured results and file, and
// release it. The rules are the database's (migrations/current.sql, 0310-lab-rules): who may make
// which move (CBSTA, naming the rule), the lock of a released report (CBLCK), the flags of the
// results, completing the request and the notification outbox on release, and footnote 3 (a lab
// technician sees of a patient only the identity, and only with an open request). Drafts carry
// their version as ETag; every write of a report needs If-Match (src/http/preconditions.ts).
// Every read is recorded in the chart access log (`read_lab`) in the reading transaction, and so is
// every request or report a write answers (in the writing one).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { TenantDb } from '../../db/tenant.ts';
import { AppError } from '../../errors.ts';
import { receiveUpload } from '../../http/multipart.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { etagOf, requireVersion } from '../../http/preconditions.ts';
import { storageKey } from '../../storage/blob-storage.ts';
import {
  findReport,
  findRequest,
  insertReport,
  insertReportFile,
  insertRequest,
  listReports,
  listRequests,
  type ReportChange,
  type ReportRow,
  recordLabReads,
  recordSupportLabReads,
  reportState,
  setRequestStatus,
  updateReport,
  writeResult,
} from './queries.ts';
import {
  idParams,
  type ResultInput,
  reportFileForm,
  reportListQuery,
  requestListQuery,
  testReport,
  testReportChange,
  testReportInput,
  testReportPage,
  testRequest,
  testRequestInput,
  testRequestPage,
} from './schemas.ts';

const REQUESTS = 'app_public.test_requests';
const REPORTS = 'app_public.test_reports';

/** A reference to nothing the caller can see, named like the foreign key would name it. */
const unknown = (path: string) =>
  new AppError('CONSTRAINT_VIOLATION', 'refers to something that does not exist', { errors: [{ path, message: 'refers to something that does not exist' }] });

/**
 * Runs `read` and records the patients it read (`read_lab`) in the chart access log: a member's in
 * the same transaction; a support token's (read-only) right after, as the grant's operator, before
 * anything is answered. Nothing read, nothing recorded.
 */
async function readRecorded<T>(
  app: FastifyInstance,
  request: FastifyRequest,
  read: (db: TenantDb) => Promise<T>,
  patientsOf: (found: T) => string[],
): Promise<T> {
  const tenant = request.tenant!;
  const grantId = request.claims?.support_grant;
  if (grantId === undefined) {
    return app.withTenant(tenant, async (db) => {
      const found = await read(db);
      const patients = [...new Set(patientsOf(found))];
      if (patients.length > 0) await recordLabReads(db, patients);
      return found;
    });
  }
  const found = await app.withTenant(tenant, read);
  const patients = [...new Set(patientsOf(found))];
  if (patients.length > 0) {
    const operator = { clinicId: null, userId: tenant.userId, role: null, requestId: tenant.requestId ?? null, clientIp: tenant.clientIp ?? null };
    const recorded = await app.withPlatform(operator, (db) => recordSupportLabReads(db, grantId, tenant.clinicId!, patients));
    if (!recorded) throw new AppError('UNAUTHENTICATED', 'This support access has ended.');
  }
  return found;
}

/**
 * A request or report a write answers is a read of its patient's lab record too: recorded
 * (`read_lab`, the caller's) in the write's own transaction, before it is answered. Writes are never
 * a support token's (read-only), so the member's insert is the only one.
 */
async function answered<T extends { patientId: string }>(db: TenantDb, row: T | undefined): Promise<T | undefined> {
  if (row) await recordLabReads(db, [row.patientId]);
  return row;
}

/** The API's shape of a report: no cursor position. */
function present({ position: _position, ...row }: ReportRow) {
  return row;
}

export async function testRequestRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['lab'];

  app.post(
    '/',
    {
      ...app.permission(REQUESTS, 'insert'),
      // 422: a consultation the caller cannot see (another clinic's, unknown).
      schema: {
        tags,
        summary: 'Request a test from a consultation (doctors).',
        params: clinicParams,
        body: testRequestInput,
        response: { 201: testRequest },
        problems: ['CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => {
      const created = await app.withTenant(request.tenant!, async (db) => {
        const id = await insertRequest(db, request.body);
        if (!id) throw unknown('body.consultationId');
        return answered(db, await findRequest(db, id));
      });
      const { position: _position, ...row } = created!;
      return reply.code(201).send(row);
    },
  );

  app.get(
    '/',
    {
      ...app.permission(REQUESTS, 'select'),
      schema: {
        tags,
        summary: "Test requests, oldest first (the lab's worklist: filter status=requested, collected or in_progress).",
        params: clinicParams,
        querystring: requestListQuery,
        response: { 200: testRequestPage },
      },
    },
    async (request) => {
      const { limit, after, status, patientId } = request.query;
      const rows = await readRecorded(
        app,
        request,
        (db) => listRequests(db, { status, patientId }, limit + 1, after as [string, string] | undefined),
        (found) => found.slice(0, limit).map((r) => r.patientId),
      );
      const { items, nextCursor } = toPage(rows, limit, (r) => [r.position, r.id]);
      return { items: items.map(({ position: _position, ...r }) => r), nextCursor };
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(REQUESTS, 'select'),
      schema: { tags, summary: 'A test request.', params: idParams, response: { 200: testRequest } },
    },
    async (request) => {
      const found = await readRecorded(
        app,
        request,
        (db) => findRequest(db, request.params.id),
        (row) => (row ? [row.patientId] : []),
      );
      if (!found) throw new AppError('NOT_FOUND');
      const { position: _position, ...row } = found;
      return row;
    },
  );

  const moves = {
    collect: { to: 'collected', summary: 'The sample is collected (lab technicians; from requested).' },
    start: { to: 'in_progress', summary: 'The test is in progress (lab technicians; from collected).' },
    cancel: { to: 'cancelled', summary: 'Cancel a request not yet started (doctors; from requested or collected).' },
  } as const;
  for (const [action, { to, summary }] of Object.entries(moves)) {
    app.post(
      `/:id/${action}`,
      {
        ...app.permission(REQUESTS, 'update'),
        // INVALID_TRANSITION / RECORD_LOCKED name the rule (test_request_status_flow, test_request_closed_is_final, …).
        schema: { tags, summary, params: idParams, response: { 200: testRequest }, problems: ['INVALID_TRANSITION', 'RECORD_LOCKED'] },
      },
      async (request) => {
        const moved = await app.withTenant(request.tenant!, async (db) => {
          if (!(await setRequestStatus(db, request.params.id, to))) return undefined;
          return answered(db, await findRequest(db, request.params.id));
        });
        if (!moved) throw new AppError('NOT_FOUND');
        const { position: _position, ...row } = moved;
        return row;
      },
    );
  }
}

export interface TestReportRoutesOptions {
  /** The largest report file, in bytes (FILE_MAX_BYTES). */
  maxBytes: number;
}

export async function testReportRoutes(fastify: FastifyInstance, options: TestReportRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['lab'];
  const form = reportFileForm(options.maxBytes);

  const writeResults = async (db: TenantDb, reportId: string, results: ResultInput[]) => {
    for (const [index, result] of results.entries()) await writeResult(db, reportId, index + 1, result);
  };

  /**
   * Changes a report at the version of If-Match; when nothing matched, says why: unknown (404),
   * another technician's (403), a stale version (409 VERSION_CONFLICT). A released report's lock
   * is the trigger's (409 RECORD_LOCKED, test_report_released_is_final).
   */
  const change = async (db: TenantDb, id: string, version: number, what: ReportChange, then?: (db: TenantDb) => Promise<void>) => {
    if (!(await updateReport(db, id, version, what))) {
      const state = await reportState(db, id);
      if (!state) throw new AppError('NOT_FOUND');
      if (state.version !== version) throw new AppError('VERSION_CONFLICT', `The report is at version ${state.version}; read it again.`);
      throw new AppError('FORBIDDEN', "Only the report's own technician changes it.");
    }
    if (then) await then(db);
    return (await answered(db, await findReport(db, id)))!;
  };

  const answer = (reply: { header(name: string, value: string): unknown }, row: ReportRow) => {
    reply.header('etag', etagOf(row.version));
    return present(row);
  };

  app.post(
    '/',
    {
      ...app.permission(REPORTS, 'insert'),
      // 409: the request already has its report (CONFLICT) or is closed (INVALID_TRANSITION, test_report_needs_open_request); 422: unknown request.
      schema: {
        tags,
        summary: 'Write the report of a test request, with its results: a draft (lab technicians).',
        params: clinicParams,
        body: testReportInput,
        response: { 201: testReport },
        problems: ['CONFLICT', 'INVALID_TRANSITION', 'CONSTRAINT_VIOLATION'],
      },
    },
    async (request, reply) => {
      const created = await app.withTenant(request.tenant!, async (db) => {
        const id = await insertReport(db, request.body);
        if (!id) throw unknown('body.testRequestId');
        await writeResults(db, id, request.body.results);
        return (await answered(db, await findReport(db, id)))!;
      });
      reply.code(201);
      return answer(reply, created);
    },
  );

  app.get(
    '/',
    {
      ...app.permission(REPORTS, 'select'),
      schema: {
        tags,
        summary: 'Lab reports with their results, newest first.',
        params: clinicParams,
        querystring: reportListQuery,
        response: { 200: testReportPage },
      },
    },
    async (request) => {
      const { limit, after, patientId, status } = request.query;
      const rows = await readRecorded(
        app,
        request,
        (db) => listReports(db, { patientId, status }, limit + 1, after as [string, string] | undefined),
        (found) => found.slice(0, limit).map((r) => r.patientId),
      );
      const { items, nextCursor } = toPage(rows, limit, (r) => [r.position, r.id]);
      return { items: items.map(present), nextCursor };
    },
  );

  app.get(
    '/:id',
    {
      ...app.permission(REPORTS, 'select'),
      schema: { tags, summary: 'A lab report with its results and their flags; its version is the ETag.', params: idParams, response: { 200: testReport } },
    },
    async (request, reply) => {
      const found = await readRecorded(
        app,
        request,
        (db) => findReport(db, request.params.id),
        (row) => (row ? [row.patientId] : []),
      );
      if (!found) throw new AppError('NOT_FOUND');
      return answer(reply, found);
    },
  );

  app.patch(
    '/:id',
    {
      ...app.permission(REPORTS, 'update'),
      schema: {
        tags,
        summary: 'Change a draft (If-Match): its conclusion (null clears it) and its results, position by position (results are corrected, never removed).',
        params: idParams,
        body: testReportChange,
        response: { 200: testReport },
        problems: ['PRECONDITION_REQUIRED', 'VERSION_CONFLICT', 'RECORD_LOCKED'],
      },
    },
    async (request, reply) => {
      const version = requireVersion(request);
      const { conclusion, results } = request.body;
      const changed = await app.withTenant(request.tenant!, (db) =>
        change(db, request.params.id, version, { conclusion }, results ? (trx) => writeResults(trx, request.params.id, results) : undefined),
      );
      return answer(reply, changed);
    },
  );

  app.post(
    '/:id/release',
    {
      ...app.permission(REPORTS, 'update'),
      schema: {
        tags,
        summary: 'Release a draft (If-Match): it is locked with its results, the request is completed, the doctor and the patient are notified.',
        params: idParams,
        response: { 200: testReport },
        problems: ['PRECONDITION_REQUIRED', 'VERSION_CONFLICT', 'RECORD_LOCKED', 'INVALID_TRANSITION'],
      },
    },
    async (request, reply) => {
      const version = requireVersion(request);
      const released = await app.withTenant(request.tenant!, (db) => change(db, request.params.id, version, { status: 'released' }));
      return answer(reply, released);
    },
  );

  app.post(
    '/:id/file',
    {
      ...app.permission(REPORTS, 'update'),
      // Attaches (or replaces) the report's file: a files row of category 'report' for the report's patient, bytes in the storage.
      schema: {
        tags,
        summary: "Attach the report's file (multipart, one part `file`) to a draft (If-Match); kept by the files module.",
        params: idParams,
        multipart: form,
        response: { 200: testReport },
        problems: ['PRECONDITION_REQUIRED', 'VERSION_CONFLICT', 'RECORD_LOCKED', 'CONFLICT'],
      },
    },
    async (request, reply) => {
      const version = requireVersion(request);
      const { file, fileName } = await receiveUpload(request, app.storage, form);
      try {
        const attached = await app.withTenant(request.tenant!, async (db) => {
          const state = await reportState(db, request.params.id);
          if (!state) throw new AppError('NOT_FOUND');
          if (state.status === 'released')
            throw new AppError('RECORD_LOCKED', 'A released report does not change.', { extensions: { rule: 'test_report_released_is_final' } });
          if (state.version !== version) throw new AppError('VERSION_CONFLICT', `The report is at version ${state.version}; read it again.`);
          const row = await insertReportFile(db, request.params.id, {
            originalName: fileName,
            contentType: file.contentType,
            sizeBytes: file.sizeBytes,
            sha256: file.sha256,
          });
          if (!row) throw new AppError('NOT_FOUND');
          const changed = await change(db, request.params.id, version, { fileId: row.id });
          // Inside the transaction: the blob is kept only if the row commits (discarded below otherwise).
          await file.commit(storageKey(row.clinicId, row.id));
          return changed;
        });
        return answer(reply, attached);
      } catch (error) {
        await file.discard();
        throw error;
      }
    },
  );
}
