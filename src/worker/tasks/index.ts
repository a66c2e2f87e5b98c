// Every task the worker runs, one file each (`<table>__<action>.ts`). A job whose task is not
// listed here waits in the queue until a worker that knows it runs.
import type { TaskDefinition } from '../task.ts';
import clinicExportsBuild from './clinic_exports__build.ts';
import clinicExportsExpire from './clinic_exports__expire.ts';

export const TASKS: readonly TaskDefinition[] = [clinicExportsBuild, clinicExportsExpire];
