// Every task the worker runs, one file each (`<table>__<action>.ts`). A job whose task is not
// listed here waits in the queue until a worker that knows it runs.
import type { TaskDefinition } from '../task.ts';
import { appointmentsRemind } from './appointments__remind.ts';

export const TASKS: readonly TaskDefinition[] = [appointmentsRemind];
