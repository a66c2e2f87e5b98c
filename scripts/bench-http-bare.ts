// Preloaded by `npm run bench:http` into the API server's own process (`node --import` this file
// `src/server.ts`): the baseline the API is compared with. A bare Fastify instance (no logger, no
// hooks, no plugins) on its own port, with routes that do the API's department read and patient
// read (npm run bench:front-desk) as one explicit-WHERE statement each on a plain pg pool of the
// same size, as a bench-only role exempt from RLS (no access log, no masking: the baseline). Same Node process, same event loop, same machine: only what the API adds on top differs.
// The same port switches V8's CPU profiler on and off, so that a profile covers the timed load
// only (not start-up, login or warm-up). Never part of the application; scripts/bench-http.ts
// sets the variables below.
import Fastify from 'fastify';
import { Session } from 'node:inspector/promises';
import pg from 'pg';

const port = Number(process.env.BENCH_BARE_PORT);
const url = process.env.BENCH_BARE_DATABASE_URL;
const poolSize = Number(process.env.DATABASE_POOL_SIZE);
if (!port || !url || !poolSize) throw new Error('bench-http-bare.ts is preloaded by scripts/bench-http.ts, which sets its variables');

/** The columns and names the API's route answers with (src/modules/departments/queries.ts). */
const READ_DEPARTMENT = `
  select id, code, name, description, is_active as "isActive", created_at as "createdAt", updated_at as "updatedAt"
  from app_public.departments where clinic_id = $1 and id = $2`;

/** The patient record's columns, named as the API's route answers them (src/modules/patients/). */
const READ_PATIENT = `
  select id, patient_number as "patientNumber", full_name as "fullName", to_char(date_of_birth, 'YYYY-MM-DD') as "dateOfBirth", sex, phone,
    email, address, emergency_contact_name as "emergencyContactName", emergency_contact_phone as "emergencyContactPhone",
    blood_group as "bloodGroup", identification_type as "identificationType", identification_number_ciphertext as "identificationNumber",
    status, merged_into_id as "mergedIntoId", member_id as "memberId", created_at as "createdAt", updated_at as "updatedAt"
  from app_public.patients where clinic_id = $1 and id = $2`;

const pool = new pg.Pool({ connectionString: url, max: poolSize, idleTimeoutMillis: 0 });
pool.on('error', () => {}); // connections closing with the cluster at the end of the run

const bare = Fastify();
bare.get<{ Params: { clinicId: string; id: string } }>('/bare/clinics/:clinicId/departments/:id', async (request, reply) => {
  const { rows } = await pool.query(READ_DEPARTMENT, [request.params.clinicId, request.params.id]);
  return rows[0] ?? reply.code(404).send();
});

bare.get<{ Params: { clinicId: string; id: string } }>('/bare/clinics/:clinicId/patients/:id', async (request, reply) => {
  const { rows } = await pool.query(READ_PATIENT, [request.params.clinicId, request.params.id]);
  return rows[0] ?? reply.code(404).send();
});

const inspector = new Session();
inspector.connect();
bare.post('/bench/profile/start', async (_request, reply) => {
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.setSamplingInterval', { interval: 1000 }); // µs, as node --cpu-prof
  await inspector.post('Profiler.start');
  return reply.code(204).send();
});
bare.post('/bench/profile/stop', async () => (await inspector.post('Profiler.stop')).profile);

await bare.listen({ port, host: '127.0.0.1' });
