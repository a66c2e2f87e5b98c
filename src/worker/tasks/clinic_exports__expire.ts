// Ends a ready export's life at its expires_at (queued by clinic_exports__build): the archive is
// removed from the storage and the row reads expired. Run again, it finds the export expired and
// does nothing.
import { z } from 'zod';
import { expireClinicExport } from '../../exports/build.ts';
import { defineTenantTask } from '../task.ts';

export const clinicExportsExpire = defineTenantTask({
  name: 'clinic_exports__expire',
  payload: z.object({ clinicId: z.uuid(), exportId: z.uuid() }).strict(),
  run: async ({ clinicId, exportId }, job) => {
    await expireClinicExport({ withTenant: job.withTenant, storage: job.deps.storage, now: job.deps.now }, { clinicId, exportId });
  },
});
