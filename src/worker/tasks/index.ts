// Every task the worker runs, one file each (`<table>__<action>.ts`). A job whose task is not
// listed here waits in the queue until a worker that knows it runs.
import type { TaskDefinition } from '../task.ts';
import { accountsUpkeep } from './accounts__upkeep.ts';
import { appointmentsRemind } from './appointments__remind.ts';
import { clinicExportsBuild } from './clinic_exports__build.ts';
import { clinicExportsExpire } from './clinic_exports__expire.ts';
import { clinicsUpkeep } from './clinics__upkeep.ts';
import { clinicsUpkeepFanOut } from './clinics__upkeep_fan_out.ts';
import { notificationOutboxDeliver } from './notification_outbox__deliver.ts';

export const TASKS: readonly TaskDefinition[] = [
  accountsUpkeep,
  appointmentsRemind,
  clinicExportsBuild,
  clinicExportsExpire,
  clinicsUpkeep,
  clinicsUpkeepFanOut,
  notificationOutboxDeliver,
];
