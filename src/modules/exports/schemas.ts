import { z } from 'zod';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';

export const exportParams = clinicParams.extend({ id: z.uuid() }).strict();

/** Newest first; the cursor is the last item's creation time (to the microsecond, as stored) and id. */
export const listQuery = pageQuery(z.tuple([z.iso.datetime({ offset: true }), z.uuid()]));

export const clinicExport = z.object({
  id: z.uuid(),
  status: z.enum(['requested', 'running', 'ready', 'failed', 'expired']).describe('ready: downloadable until expiresAt; expired once that has passed.'),
  progress: z.int().min(0).max(100).describe('Percentage of the build done.'),
  requestedBy: z.uuid().describe('The membership that requested it.'),
  sha256: z.string().nullable().describe('Lower-case hex SHA-256 of the archive, once ready.'),
  sizeBytes: z.int().nullable().describe('The size of the archive, once ready.'),
  expiresAt: z.date().nullable().describe('Until when it may be downloaded, once ready.'),
  error: z.string().nullable().describe('Why the build failed: an error class and code, never data.'),
  createdAt: z.date(),
  finishedAt: z.date().nullable(),
});

export const clinicExportPage = page(clinicExport);

/** The archive (docs/export-format.md). */
export const archiveContent = {
  description: 'The export as a gzip-compressed tar archive (docs/export-format.md), as an attachment.',
  content: { 'application/gzip': { schema: z.string().meta({ format: 'binary' }) } },
};

/** A patient's own record: each table they may read, as rows (docs/export-format.md#a-patients-own-export). */
export const patientRecord = z
  .object({
    exportedAt: z.date(),
    patient: z.record(z.string(), z.unknown()).describe('The registration record, the identification number masked as the portal shows it.'),
    records: z
      .record(z.string(), z.array(z.record(z.string(), z.unknown())))
      .describe('Per table (appointments, consultations, …): the rows the patient may read.'),
  })
  .describe("The patient's own record, everything the portal shows them, in one document.");

export type ClinicExport = z.infer<typeof clinicExport>;
