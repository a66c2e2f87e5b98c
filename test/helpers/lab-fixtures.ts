// The lab tests' ground: two clinics (A and B) with one member per role (actors.ts), the real app
// with a storage of its own, patients registered as superuser, and consultations written as
// superuser (the consultations' own API and rules are another module's: the lab only needs one to
// request from). Written with triggers off (session_replication_role = replica) so that the
// consultation is a plain draft row whatever the consultations' rules say about visits.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Test } from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { actorIn, createActors, insertAsAdmin } from './actors.ts';
import { buildTestApp } from './app.ts';
import { type TestClient, testClient } from './client.ts';
import { createClinics, createTestDatabase, type TestDatabase } from './db.ts';
import { multipart } from './multipart.ts';

export type ClinicKey = 'a' | 'b';

export interface LabClinics {
  db: TestDatabase;
  app: FastifyInstance;
  client: TestClient;
  clinics: { a: string; b: string };
  /** The clinic's actor in that role: membership and account. */
  member(role: ClinicRole, clinic?: ClinicKey): { member: string; account: string };
  /** The e-mail of the clinic's actor in that role (actors.ts). */
  emailOf(role: ClinicRole, clinic?: ClinicKey): string;
  token(role: ClinicRole, clinic?: ClinicKey): Promise<string>;
  /** A patient of the clinic (superuser); `own`: the clinic's patient actor's record (portal login). */
  patient(clinic?: ClinicKey, options?: { own?: boolean; email?: string; phone?: string; address?: string }): Promise<string>;
  /** A visit and a draft consultation of the clinic's doctor actor for the patient; the consultation's id. */
  consultation(patientId: string, clinic?: ClinicKey): Promise<string>;
  /** `method /api/v1/clinics/clinic-<x><path>` as the clinic's actor in `role`, with the headers given. */
  call(
    role: ClinicRole,
    method: 'GET' | 'POST' | 'PATCH',
    path: string,
    payload?: object,
    headers?: Record<string, string>,
    clinic?: ClinicKey,
  ): Promise<LightMyRequestResponse>;
  /** POST a report file (multipart, part `file`) as the clinic's lab technician. */
  uploadReportFile(reportId: string, bytes: Buffer, fileName: string, headers?: Record<string, string>, clinic?: ClinicKey): Promise<LightMyRequestResponse>;
}

export async function labClinics(t: Test, { poolSize = 2 } = {}): Promise<LabClinics> {
  const db = await createTestDatabase(t, { poolSize });
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a, clinics.b]);
  const { app } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, { poolSize }, { fileMaxBytes: 64 * 1024 });
  const client = testClient(app);
  const member = (role: ClinicRole, clinic: ClinicKey = 'a') => actorIn(db, clinics[clinic], role);
  const token = (role: ClinicRole, clinic: ClinicKey = 'a') =>
    client.clinicToken(role, { id: clinics[clinic], slug: `clinic-${clinic}` }, member(role, clinic).account);
  let patients = 0;
  return {
    db,
    app,
    client,
    clinics,
    member,
    emailOf: (role, clinic = 'a') => `actor-${role.replaceAll('_', '-')}-${clinics[clinic]}@example.test`,
    token,
    patient: async (clinic = 'a', options = {}) => {
      const { rows } = await db.admin.query<{ id: string }>(
        `insert into app_public.patients (clinic_id, full_name, date_of_birth, sex, member_id, email, phone, address)
         values ($1, $2, '1985-06-15', 'female', $3, $4, $5, $6) returning id`,
        [
          clinics[clinic],
          `Lab Patient ${++patients}`,
          options.own ? member('patient', clinic).member : null,
          options.email ?? null,
          options.phone ?? null,
          options.address ?? null,
        ],
      );
      return rows[0]!.id;
    },
    consultation: async (patientId, clinic = 'a') => {
      const visit = await insertAsAdmin(db, clinics[clinic], 'app_public.visits', {
        patient_id: patientId,
        doctor_id: member('doctor', clinic).member,
        purpose: 'lab test',
      });
      const connection = await db.admin.connect();
      try {
        await connection.query('begin');
        await connection.query('set local session_replication_role = replica');
        const { rows } = await connection.query<{ id: string }>(
          `insert into app_public.consultations (clinic_id, visit_id, patient_id, doctor_id, chief_complaint) values ($1, $2, $3, $4, 'Tired for weeks') returning id`,
          [clinics[clinic], visit, patientId, member('doctor', clinic).member],
        );
        await connection.query('commit');
        return rows[0]!.id;
      } finally {
        connection.release();
      }
    },
    call: async (role, method, path, payload, headers = {}, clinic = 'a') =>
      app.inject({
        method,
        url: `/api/v1/clinics/clinic-${clinic}${path}`,
        headers: { ...headers, authorization: `Bearer ${await token(role, clinic)}` },
        ...(payload === undefined ? {} : { payload }),
      }),
    uploadReportFile: async (reportId, bytes, fileName, headers = {}, clinic = 'a') => {
      const body = await multipart([['file', { bytes, name: fileName, type: 'application/pdf' }]]);
      return app.inject({
        method: 'POST',
        url: `/api/v1/clinics/clinic-${clinic}/test-reports/${reportId}/file`,
        headers: { ...body.headers, ...headers, authorization: `Bearer ${await token('lab_technician', clinic)}` },
        payload: body.payload,
      });
    },
  };
}
