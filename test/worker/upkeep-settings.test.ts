// The no-show grace is a clinic setting like the others: 30 minutes by default, 5 to 1440, changed
// by clinic admins over PATCH …/settings, refused out of range by the API and by the database.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createTestDatabase, sqlstateOf } from '../helpers/db.ts';
import { latestInvitationToken } from '../helpers/outbox.ts';
import { createOperator } from '../helpers/people.ts';

const PASSWORD = 'a long and correct password';

t.test("the clinic's no-show grace", async (t) => {
  const db = await createTestDatabase(t);
  await createOperator(db, 'ops@example.test', PASSWORD);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const { call } = client;
  const ops = (await client.platformLogin('ops@example.test', PASSWORD)).json().accessToken;
  await call('POST', '/api/v1/platform/clinics', ops, { slug: 'alpha', name: 'Alpha', admin: { email: 'admin@alpha.test', displayName: 'Admin' } });
  const admin = (
    await call('POST', '/api/v1/auth/invitations/accept', undefined, { token: await latestInvitationToken(db, 'admin@alpha.test'), password: PASSWORD })
  ).json();
  const stored = async () =>
    (await db.admin.query(`select s.no_show_grace_minutes as grace from app_public.clinic_settings s join app_public.clinics c on c.id = s.clinic_id`)).rows;

  t.match((await call('GET', '/api/v1/clinics/alpha/settings', admin.accessToken)).json(), { noShowGraceMinutes: 30 }, '30 minutes by default');

  const changed = await call('PATCH', '/api/v1/clinics/alpha/settings', admin.accessToken, { noShowGraceMinutes: 45 });
  t.equal(changed.statusCode, 200);
  t.match(changed.json(), { noShowGraceMinutes: 45, currency: 'USD' }, 'the answer has the new grace and the other settings');
  t.same(await stored(), [{ grace: 45 }]);

  for (const grace of [4, 1441, 30.5]) {
    const refused = await call('PATCH', '/api/v1/clinics/alpha/settings', admin.accessToken, { noShowGraceMinutes: grace });
    t.match(refused.json(), { status: 400, errors: [{ path: 'body.noShowGraceMinutes' }] }, `${grace} is refused, naming the field`);
  }
  t.same(await stored(), [{ grace: 45 }], 'the refused values changed nothing');

  const nurseToken = await client.clinicToken('nurse', { id: admin.membership.clinicId, slug: 'alpha' });
  t.equal((await call('PATCH', '/api/v1/clinics/alpha/settings', nurseToken, { noShowGraceMinutes: 60 })).statusCode, 403, 'only admins change it');
  t.match((await call('GET', '/api/v1/clinics/alpha/settings', nurseToken)).json(), { noShowGraceMinutes: 45 }, 'every member reads it');

  t.equal(
    await sqlstateOf(db.admin.query('update app_public.clinic_settings set no_show_grace_minutes = 1441')),
    '23514',
    'the database refuses what the API would not send',
  );
  t.same(await stored(), [{ grace: 45 }]);
});
