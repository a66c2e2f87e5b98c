// Liveness (the process answers) and readiness (it can reach the database) for orchestrators.
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';

const READY_TIMEOUT_MS = 2_000;

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/health/live', async () => ({ status: 'ok' }));

  app.get('/health/ready', async () => {
    try {
      await withTimeout(app.pool.query('select 1'), READY_TIMEOUT_MS);
    } catch (error) {
      throw new AppError('SERVICE_UNAVAILABLE', undefined, { cause: error });
    }
    return { status: 'ok', checks: { database: 'ok' } };
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
