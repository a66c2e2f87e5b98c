// Started by `npm run bench:graphql` (scripts/bench-graphql.ts) in place of src/server.ts: the app
// built from the environment as src/server.ts builds it (buildApp, NODE_ENV=production), plus one
// route of the bench's own on that same instance, the REST counterpart of the bench's GraphQL
// query: no production route answers a patient with their recent appointments and visits in one
// response, and none is added for a benchmark. The route does what a module would: the clinic
// guard of /graphql (app.requireClinicToken), then withTenant and Kysely, one statement per table.
// Never part of the application.
import { sql } from 'kysely';
import { appConfigFrom, buildApp } from '../src/app.ts';
import { loadSigningKeys } from '../src/auth/keys.ts';
import { loadConfig } from '../src/config.ts';
import { loadDataKeys } from '../src/crypto/data-keys.ts';
import { createFieldCipher } from '../src/crypto/field-encryption.ts';
import type { TenantDb } from '../src/db/tenant.ts';

/** The bench's REST route (scripts/bench-graphql.ts requests it). */
const HISTORY_PATH = '/bench/patients/:id/history';
/** How many of each kind of row the history holds: the GraphQL query's `first` (scripts/bench-graphql.ts). */
const HISTORY_ROWS = 10;

const config = loadConfig(undefined, { serving: true });
const started = performance.now();
const app = await buildApp(
  appConfigFrom(config, {
    authenticatorUrl: config.database.authenticatorUrl!,
    keys: await loadSigningKeys(config.jwt, config.dataDir),
    fieldCipher: createFieldCipher(await loadDataKeys(config.dataEncryption)),
  }),
);
const buildAppMs = performance.now() - started;
await app.graphql.getSchema();
const startup = { buildAppMs, schemaReadyMs: performance.now() - started };
app.get('/bench/startup', async () => startup);
app.get<{ Params: { id: string } }>(HISTORY_PATH, { preValidation: [app.requireClinicToken] }, async (request, reply) => {
  const patient = await app.withTenant(request.tenant!, (db) => patientHistory(db, request.params.id));
  return patient ? { patient } : reply.code(404).send();
});
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
await app.listen({ port: config.port, host: config.host });

/**
 * The patient and their last HISTORY_ROWS appointments and visits, named as the GraphQL query names
 * them (rowId for the id, lists under `nodes`). Consultations join when clinical care adds them.
 */
async function patientHistory(db: TenantDb, id: string) {
  const patient = await db
    .selectFrom('appPublic.patients')
    .select(['id as rowId', 'patientNumber', 'fullName', sql<string>`to_char(date_of_birth, 'YYYY-MM-DD')`.as('dateOfBirth'), 'sex', 'status'])
    .where('id', '=', id)
    .executeTakeFirst();
  if (!patient) return undefined;
  const appointments = await db
    .selectFrom('appPublic.appointments')
    .select(['id as rowId', 'doctorId', 'startsAt', 'endsAt', 'status', 'reason'])
    .where('patientId', '=', id)
    .orderBy('startsAt', 'desc')
    .limit(HISTORY_ROWS)
    .execute();
  const visits = await db
    .selectFrom('appPublic.visits')
    .select(['id as rowId', 'appointmentId', 'doctorId', sql<string>`visit_date::text`.as('visitDate'), 'tokenNumber', 'status', 'checkedInAt', 'completedAt'])
    .where('patientId', '=', id)
    .orderBy('visitDate', 'desc')
    .limit(HISTORY_ROWS)
    .execute();
  return { ...patient, appointments: { nodes: appointments }, visits: { nodes: visits } };
}
