// Exports (issue 12 point 6). A clinic admin requests a whole-clinic export, follows its build
// (the worker's clinic_exports__build job) and downloads the archive while it is ready: each
// download is recorded in the audit log first. A support token neither requests (its transactions
// are read-only) nor downloads (refused here: a support grant is for looking, not for taking the
// clinic away). A patient exports their own record (right of access), recorded in the chart
// access log as a read of it. The archive's format: docs/export-format.md.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { mask } from '../../crypto/field-encryption.ts';
import { archiveKey } from '../../exports/build.ts';
import { AppError } from '../../errors.ts';
import { attachmentDisposition } from '../../http/disposition.ts';
import { toPage } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { OWN_RECORD, readWithChartAccess } from '../../records/chart-access.ts';
import { findExport, insertExport, listExports, readOwnRecord, recordDownload } from './queries.ts';
import { archiveContent, clinicExport, clinicExportPage, exportParams, listQuery, patientRecord } from './schemas.ts';

const RESOURCE = 'app_public.clinic_exports';
const PATIENTS = 'app_public.patients';
/** The field bound into identification numbers' ciphertexts (the patients module seals them so). */
const IDENTIFICATION_FIELD = 'patients.identification_number';

/** The API's names for the database's: `date_of_birth` → `dateOfBirth`. */
const camelName = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const camelCased = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([key, value]) => [camelName(key), value]));

export default async function exportRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['exports'];

  app.post(
    '/exports',
    {
      ...app.permission(RESOURCE, 'insert'),
      schema: {
        tags,
        summary: 'Requests a whole-clinic export: built in the background (follow it at Location), downloadable by admins for 24 hours.',
        params: clinicParams,
        response: { 202: clinicExport },
      },
    },
    async (request, reply) => {
      const created = await app.withTenant(request.tenant!, insertExport);
      return reply.code(202).header('location', `/api/v1/clinics/${request.params.slug}/exports/${created.id}`).send(created);
    },
  );

  app.get(
    '/exports',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: clinicParams, querystring: listQuery, response: { 200: clinicExportPage } },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows = await app.withTenant(request.tenant!, (db) => listExports(db, limit + 1, after as [string, string] | undefined));
      const { items, nextCursor } = toPage(rows, limit, (row) => [row.position, row.id]);
      return { items: items.map(({ position: _position, ...row }) => row), nextCursor };
    },
  );

  app.get(
    '/exports/:id',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: exportParams, response: { 200: clinicExport } },
    },
    async (request) => {
      const found = await app.withTenant(request.tenant!, (db) => findExport(db, request.params.id));
      if (!found) throw new AppError('NOT_FOUND');
      return found;
    },
  );

  app.get(
    '/exports/:id/download',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: {
        tags,
        summary: 'The archive of a ready export (each download recorded in the audit log); 409 CONFLICT while it is not ready or once it has expired.',
        params: exportParams,
        response: { 200: archiveContent },
        problems: ['CONFLICT'],
      },
    },
    async (request, reply) => {
      if (request.claims?.support_grant !== undefined) throw new AppError('FORBIDDEN', 'Support access cannot download a clinic export.');
      const { id } = request.params;
      const recorded = await app.withTenant(request.tenant!, async (db) => {
        const found = await findExport(db, id);
        return found && { found, recorded: await recordDownload(db, id) };
      });
      if (!recorded) throw new AppError('NOT_FOUND');
      if (!recorded.recorded) throw new AppError('CONFLICT', `This export is ${recorded.found.status}: only a ready export can be downloaded.`);
      const blob = await app.storage.get(archiveKey(request.tenant!.clinicId!, id));
      if (!blob) {
        request.log.error({ exportId: id }, 'a ready export without its archive');
        throw new AppError('INTERNAL');
      }
      return reply
        .type('application/gzip')
        .header('content-length', blob.sizeBytes)
        .header('content-disposition', attachmentDisposition(`${request.params.slug}-export-${id}.tar.gz`))
        .header('cache-control', 'no-store')
        .send(blob.stream as unknown as string);
    },
  );

  app.get(
    '/patients/me/export',
    {
      ...app.permission(PATIENTS, 'select'),
      schema: {
        tags,
        summary: "The calling patient's own record in one document (right of access); a read of the record in the chart access log.",
        params: clinicParams,
        response: { 200: patientRecord },
      },
    },
    async (request) => {
      if (request.tenant!.role !== 'patient') throw new AppError('FORBIDDEN', 'Only a patient exports their own record.');
      const reader = { tenant: request.tenant!, supportGrantId: request.claims?.support_grant };
      const found = await readWithChartAccess(app, reader, { action: 'read_record', patientId: OWN_RECORD }, readOwnRecord);
      if (!found?.record) throw new AppError('NOT_FOUND');
      const { patient, ...records } = found.record as { patient: Record<string, unknown> } & Record<string, Record<string, unknown>[]>;
      const { identification_number_ciphertext: ciphertext, ...registration } = patient;
      const identificationNumber =
        typeof ciphertext === 'string' ? mask(app.fieldCipher.decrypt(ciphertext, { clinicId: request.tenant!.clinicId!, field: IDENTIFICATION_FIELD })) : null;
      return {
        exportedAt: new Date(),
        patient: { ...camelCased(registration), identificationNumber },
        records: Object.fromEntries(Object.entries(records).map(([table, rows]) => [camelName(table), rows.map(camelCased)])),
      };
    },
  );
}
