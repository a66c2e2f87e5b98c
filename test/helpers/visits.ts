// The front desk of the visits tests: two clinics (A and B) with one member per role (actors.ts),
// a second doctor in each, patients registered as superuser, tokens of those real members, and
// visits checked in through the API.
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { actorIn, createActors } from './actors.ts';
import { buildTestApp } from './app.ts';
import { testClient, type TestClient } from './client.ts';
import { createClinics, createTestDatabase, type TestDatabase } from './db.ts';

export interface FrontDesk {
  db: TestDatabase;
  app: FastifyInstance;
  client: TestClient;
  clinics: { a: string; b: string };
  /** A token of the clinic's actor in that role. */
  token(role: ClinicRole, clinic?: 'a' | 'b'): Promise<string>;
  /** The clinic's doctor actor's membership, and the second doctor's. */
  doctor(clinic?: 'a' | 'b'): string;
  otherDoctor(clinic?: 'a' | 'b'): string;
  /** A patient registered in the clinic (superuser), and its id. */
  patient(clinic?: 'a' | 'b', name?: string): Promise<string>;
  /** POST visits as the clinic's receptionist; the created visit. */
  checkIn(body: object, clinic?: 'a' | 'b'): Promise<{ id: string; tokenNumber: number; status: string }>;
  /** The visits URL prefix of the clinic. */
  url(path: string, clinic?: 'a' | 'b'): string;
}

export async function frontDesk(t: Test, { poolSize = 2 } = {}): Promise<FrontDesk> {
  const db = await createTestDatabase(t, { poolSize });
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a, clinics.b]);
  const others: Record<string, string> = {};
  for (const [key, clinicId] of Object.entries(clinics)) {
    const { rows } = await db.admin.query(
      `with account as (insert into app_private.accounts (email, password_hash) values ($1, '$argon2id$v=19$doctor') returning id)
       insert into app_public.clinic_members (clinic_id, account_id, role, display_name) select $2, id, 'doctor', 'Second Doctor' from account returning id`,
      [`second-doctor-${key}@example.test`, clinicId],
    );
    others[key] = rows[0].id as string;
  }
  const { app } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, { poolSize });
  const client = testClient(app);
  const slug = (clinic: 'a' | 'b') => `clinic-${clinic}`;
  let patients = 0;
  const desk: FrontDesk = {
    db,
    app,
    client,
    clinics,
    token: (role, clinic = 'a') => client.clinicToken(role, { id: clinics[clinic], slug: slug(clinic) }, actorIn(db, clinics[clinic], role).account),
    doctor: (clinic = 'a') => actorIn(db, clinics[clinic], 'doctor').member,
    otherDoctor: (clinic = 'a') => others[clinic]!,
    patient: async (clinic = 'a', name = `Patient ${++patients}`) => {
      const { rows } = await db.admin.query(
        `insert into app_public.patients (clinic_id, full_name, date_of_birth, sex) values ($1, $2, '1985-06-15', 'female') returning id`,
        [clinics[clinic], name],
      );
      return rows[0].id as string;
    },
    checkIn: async (body, clinic = 'a') => {
      const response = await client.post(desk.url('/visits', clinic), body, await desk.token('receptionist', clinic));
      if (response.statusCode !== 201) throw new Error(`check-in failed: ${response.statusCode} ${response.body}`);
      return response.json();
    },
    url: (path, clinic = 'a') => `/api/v1/clinics/${slug(clinic)}${path}`,
  };
  return desk;
}
