// Builds a requested clinic export (src/exports/build.ts): queued by the insert trigger of
// app_public.clinic_exports, ids only in the payload. The move to ready queues the archive's
// expiry (clinic_exports__expire) at the moment it stops being downloadable.
import { z } from 'zod';
import { buildClinicExport } from '../../exports/build.ts';
import { defineTenantTask } from '../task.ts';

export const clinicExportsBuild = defineTenantTask({
  name: 'clinic_exports__build',
  payload: z.object({ clinicId: z.uuid(), exportId: z.uuid() }).strict(),
  run: async ({ clinicId, exportId }, job) => {
    await buildClinicExport(
      { withTenant: job.withTenant, storage: job.deps.storage, now: job.deps.now },
      { clinicId, exportId },
      job.attempts >= job.maxAttempts,
    );
  },
});
