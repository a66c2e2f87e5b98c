// The blocked-access facts are re-read by a timer and at once after a change; the two reads can
// overlap. A read that began before the one applied last must not put its older facts back (a
// demoted admin's old token would work again for up to BLOCKED_REFRESH_MS on the very process
// that made the change).
import t from 'tap';
import { BlockedAccess } from '../../src/auth/blocked-access.ts';
import type { ContextRunner } from '../../src/db/contexts.ts';
import { withContext } from '../../src/db/tenant.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createPerson } from '../helpers/people.ts';

t.test('an older read that finishes last does not replace a newer one', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createPerson(db, 'other-admin@example.test', 'a long enough passphrase', [[clinics.a, 'clinic_admin']]); // a clinic keeps one admin
  const admin = await createPerson(db, 'admin@example.test', 'a long enough passphrase', [[clinics.a, 'clinic_admin']]);
  const demote = (role: string) => db.admin.query('update app_public.clinic_members set role = $1 where account_id = $2', [role, admin]);

  // The first read's answer is held back until released; later reads answer at once.
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let reads = 0;
  const withPlatform: ContextRunner = async (ctx, fn) => {
    const first = ++reads === 1;
    const result = await withContext(db.pool, 'app_platform', ctx, fn);
    if (first) await held;
    return result;
  };
  const blocked = new BlockedAccess(withPlatform);

  await demote('doctor'); // a role change within the hour: the facts now name doctor
  const older = blocked.refresh(); // reads "doctor", answers late
  await new Promise((resolve) => setTimeout(resolve, 200)); // its query has run
  await demote('receptionist');
  await blocked.refresh(); // reads "receptionist", applied
  t.equal(blocked.roleNow(clinics.a, admin), 'receptionist', 'the newer read is applied');
  release();
  await older;
  t.equal(blocked.roleNow(clinics.a, admin), 'receptionist', 'the older read, finishing last, is dropped');
});
