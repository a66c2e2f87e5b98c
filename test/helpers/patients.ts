// The patient registry's HTTP tests share this: two clinics with a real member per role (so the
// access log and own-record rules see real memberships), the real app, and calls under
// /api/v1/clinics/<slug>/patients as one of those members.
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import type { Test } from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { actorIn, createActors } from './actors.ts';
import { buildTestApp } from './app.ts';
import { type Method, testClient } from './client.ts';
import { createClinics, createTestDatabase } from './db.ts';
import { createOperator } from './people.ts';

export type ClinicKey = 'a' | 'b';

/** A registration with every field, for a person of its own (name, phone and date of birth vary with `n`). */
export function person(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    fullName: `Person Number${n} Testcase`,
    dateOfBirth: `19${String(10 + (n % 80)).padStart(2, '0')}-0${1 + (n % 9)}-1${n % 10}`,
    sex: 'female',
    phone: `+44 20 7946 ${String(1000 + n).padStart(4, '0')}`,
    ...extra,
  };
}

export async function patientsApp(t: Test, options: { poolSize?: number } = {}) {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a, clinics.b]);
  const { app, logs } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, options.poolSize ? { poolSize: options.poolSize } : {});
  const client = testClient(app);
  /** A token of the clinic's member in that role (a real membership). */
  const token = (role: ClinicRole, clinic: ClinicKey = 'a') =>
    client.clinicToken(role, { id: clinics[clinic], slug: `clinic-${clinic}` }, actorIn(db, clinics[clinic], role).account);
  const call = async (method: Method, url: string, role: ClinicRole, payload?: object, clinic: ClinicKey = 'a'): Promise<LightMyRequestResponse> =>
    client.call(method, `/api/v1/clinics/clinic-${clinic}/patients${url}`, await token(role, clinic), payload);
  /** Registers a patient as the receptionist; returns its id. */
  const register = async (body: Record<string, unknown>, clinic: ClinicKey = 'a'): Promise<string> => {
    const response = await call('POST', '', 'receptionist', { allowDuplicate: true, ...body }, clinic);
    if (response.statusCode !== 201) throw new Error(`registration failed: ${response.statusCode} ${response.body}`);
    return response.json().id as string;
  };
  const member = (role: ClinicRole, clinic: ClinicKey = 'a') => actorIn(db, clinics[clinic], role).member;
  /** A platform operator's access to clinic a under a support grant of an hour the clinic admin gave: the operator, the grant, its token. */
  const supportAccess = async () => {
    const operator = await createOperator(db, 'ops@example.test', 'a long and correct password');
    const { rows } = await db.admin.query<{ id: string }>(
      `insert into app_public.support_access_grants (clinic_id, operator_account_id, granted_by, reason, expires_at)
       values ($1, $2, $3, 'Ticket 12', now() + interval '1 hour') returning id`,
      [clinics.a, operator, actorIn(db, clinics.a, 'clinic_admin').account],
    );
    const grant = rows[0]!.id;
    const claims = { sub: operator, clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'clinic_admin' as const, jti: randomUUID(), amr: ['pwd' as const] };
    return { operator, grant, token: await app.signAccessToken({ ...claims, support_grant: grant }) };
  };
  return { db, clinics, app, logs, client, token, call, register, member, supportAccess };
}
