// The people the sweep acts as: in each clinic, one active member per clinic role, as the app
// always acts (a verified token names a real membership). Policies that decide by the caller's
// own membership (a doctor's own time off and queue, a patient's own records) then see a real
// current_member_id() and current_patient_id(), and the fixtures can make rows theirs.
import type { ClinicRole } from '../../src/db/tenant.ts';
import type { TestDatabase } from './db.ts';
import { ROLES } from './matrix.ts';

/**
 * The doctor actors' office hours: every day, all day, so that a booking at any hour of a clinic
 * without operating hours is one slot of their schedule (app_private.doctor_schedule).
 */
export const ALL_DAY_EVERY_DAY = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((day) => [day, [['00:00', '23:59']]]));

export interface Actor {
  account: string;
  member: string;
}

type Actors = Map<string, Record<ClinicRole, Actor>>;

const actorsOf = new WeakMap<TestDatabase, Actors>();

/** One account and active membership per clinic role in each clinic, created once per test database. */
export async function createActors(db: TestDatabase, clinicIds: string[]): Promise<void> {
  const actors: Actors = actorsOf.get(db) ?? new Map();
  actorsOf.set(db, actors);
  for (const clinicId of clinicIds.filter((id) => !actors.has(id))) {
    const inClinic: Partial<Record<ClinicRole, Actor>> = {};
    for (const role of ROLES) {
      const { rows } = await db.admin.query<Actor>(
        `with account as (insert into app_private.accounts (email, password_hash) values ($1, '$argon2id$v=19$actor') returning id)
         insert into app_public.clinic_members (clinic_id, account_id, role, display_name, office_hours)
         select $2, id, $3, $4, $5 from account returning account_id as account, id as member`,
        [`actor-${role.replaceAll('_', '-')}-${clinicId}@example.test`, clinicId, role, `Actor ${role}`, role === 'doctor' ? ALL_DAY_EVERY_DAY : {}],
      );
      inClinic[role] = rows[0]!;
    }
    actors.set(clinicId, inClinic as Record<ClinicRole, Actor>);
  }
}

/** The clinic's member in that role (createActors must have run for the clinic). */
export function actorIn(db: TestDatabase, clinicId: string, role: ClinicRole): Actor {
  const actor = actorsOf.get(db)?.get(clinicId)?.[role];
  if (!actor) throw new Error(`no ${role} actor in clinic ${clinicId}: call createActors first`);
  return actor;
}

/**
 * Inserts a row as superuser (bypassing RLS), with the clinic admin actor's context set, so that
 * defaults reading the context (granted_by, recorded_by, member_id, …) name a real member.
 */
export async function insertAsAdmin(db: TestDatabase, clinicId: string, table: string, values: Record<string, unknown>): Promise<string> {
  const row = { ...values, clinic_id: clinicId };
  const columns = Object.keys(row);
  const { rows } = await db.admin.query<{ id: string }>(
    `with context as materialized (
       select set_config('app.user_id', $1, true), set_config('app.clinic_id', $2, true), set_config('app.role', 'clinic_admin', true)
     )
     insert into ${table} (${columns.map((c) => `"${c}"`).join(', ')})
     select ${columns.map((_, i) => `$${i + 3}`).join(', ')} from context returning id`,
    [actorIn(db, clinicId, 'clinic_admin').account, clinicId, ...Object.values(row)],
  );
  return rows[0]!.id;
}
