// Liveness (the process answers) and readiness (it can reach the database) for orchestrators.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../errors.ts';

const READY_TIMEOUT_MS = 2_000;

const live = z.strictObject({ status: z.literal('ok') });
const ready = z.strictObject({ status: z.literal('ok'), checks: z.strictObject({ database: z.literal('ok') }) });

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  const tags = ['health'];
  app.get('/health/live', { schema: { tags, response: { 200: live } } }, async () => ({ status: 'ok' as const }));

  app.get('/health/ready', { schema: { tags, response: { 200: ready }, problems: ['SERVICE_UNAVAILABLE'] } }, async () => {
    try {
      await withTimeout(app.pool.query('select 1'), READY_TIMEOUT_MS);
    } catch (error) {
      throw new AppError('SERVICE_UNAVAILABLE', undefined, { cause: error });
    }
    return { status: 'ok' as const, checks: { database: 'ok' as const } };
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
