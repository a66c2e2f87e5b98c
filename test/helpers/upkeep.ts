// The scheduled upkeep's tests: two clinics with a doctor and a patient each, rows written as they
// would stand at a given moment (as superuser, with triggers off: a booking in the past or a
// follow-up due yesterday is what time makes of them, not something the API writes), and the
// worker-only functions called as the worker calls them (app_worker's login, the clinic's context).
import { sql } from 'kysely';
import type pg from 'pg';
import type { Test } from 'tap';
import { withContext } from '../../src/db/tenant.ts';
import { actorIn, createActors, insertAsAdmin } from './actors.ts';
import { createClinics, type TestDatabase } from './db.ts';
import { workerPool } from './worker.ts';

export interface UpkeepClinic {
  id: string;
  doctor: string;
  admin: string;
  patient: string;
}

/** Clinic A in Asia/Kolkata (UTC+05:30, its day ends at 18:30 UTC), clinic B in UTC; both with settings. */
export async function upkeepClinics(db: TestDatabase): Promise<{ a: UpkeepClinic; b: UpkeepClinic }> {
  const ids = await createClinics(db);
  await createActors(db, [ids.a, ids.b]);
  await db.admin.query(`update app_public.clinics set timezone = 'Asia/Kolkata' where id = $1`, [ids.a]);
  await db.admin.query('insert into app_public.clinic_settings (clinic_id) values ($1), ($2)', [ids.a, ids.b]);
  const clinic = async (id: string): Promise<UpkeepClinic> => ({
    id,
    doctor: actorIn(db, id, 'doctor').member,
    admin: actorIn(db, id, 'clinic_admin').member,
    patient: await insertAsAdmin(db, id, 'app_public.patients', { full_name: 'Upkeep Patient', date_of_birth: '1980-02-29', sex: 'female' }),
  });
  return { a: await clinic(ids.a), b: await clinic(ids.b) };
}

/** Inserts one row with triggers off (session_replication_role = replica) and returns its id. */
export async function insertAsItStands(db: TestDatabase, table: string, row: Record<string, unknown>): Promise<string> {
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    const columns = Object.keys(row);
    const { rows } = await client.query<{ id: string }>(
      `insert into ${table} (${columns.map((c) => `"${c}"`).join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')}) returning id`,
      Object.values(row),
    );
    await client.query('commit');
    return rows[0]!.id;
  } finally {
    client.release();
  }
}

/** A per-clinic upkeep function as the clinics__upkeep task calls it: app_worker's login, app_user, the clinic's context. */
export type CallAsWorker = (clinicId: string | null, fn: string, at: Date) => Promise<Record<string, unknown>>;

export async function callAsWorker(t: Test, db: TestDatabase): Promise<CallAsWorker> {
  const pool: pg.Pool = await workerPool(t, db);
  return (clinicId, fn, at) =>
    withContext(pool, 'app_user', { clinicId, userId: null, role: null, requestId: 'job-1' }, async (trx) => {
      const { rows } = await sql<Record<string, unknown>>`select * from ${sql.raw(fn)}(${at}) as result`.execute(trx);
      return rows[0]!;
    });
}

/** The same call as a request of the clinic's admin makes it: app_authenticator's login. */
export function callAsRequest(db: TestDatabase, clinic: UpkeepClinic, fn: string, at: Date): Promise<unknown> {
  return withContext(db.pool, 'app_user', { clinicId: clinic.id, userId: null, role: 'clinic_admin', requestId: 'req-1' }, (trx) =>
    sql`select * from ${sql.raw(fn)}(${at})`.execute(trx),
  );
}

/** `id → status` of a table's rows of one clinic. */
export async function statuses(db: TestDatabase, table: string, clinicId: string): Promise<Record<string, string>> {
  const { rows } = await db.admin.query<{ id: string; status: string }>(`select id, status from ${table} where clinic_id = $1`, [clinicId]);
  return Object.fromEntries(rows.map((r) => [r.id, r.status]));
}
