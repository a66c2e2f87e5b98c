// A clinic's settings: every member reads them, clinic admins change them.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.ts';
import { clinicParams } from '../../http/params.ts';
import { findSettings, updateSettings } from './queries.ts';
import { settings, settingsChange } from './schemas.ts';

const RESOURCE = 'app_public.clinic_settings';

export default async function settingsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const tags = ['settings'];

  app.get(
    '/',
    {
      ...app.permission(RESOURCE, 'select'),
      schema: { tags, params: clinicParams, response: { 200: settings } },
    },
    async (request) => {
      const found = await app.withTenant(request.tenant!, findSettings);
      if (!found) throw new AppError('NOT_FOUND', 'This clinic has no settings yet.');
      return found;
    },
  );

  app.patch(
    '/',
    {
      ...app.permission(RESOURCE, 'update'),
      schema: { tags, params: clinicParams, body: settingsChange, response: { 200: settings } },
    },
    async (request) => {
      const updated = await app.withTenant(request.tenant!, (db) => updateSettings(db, request.body));
      if (!updated) throw new AppError('NOT_FOUND', 'This clinic has no settings yet.');
      return updated;
    },
  );
}
