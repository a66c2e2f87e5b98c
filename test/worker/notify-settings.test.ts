// The clinic settings that shape its messages, over REST: the sender name and the language,
// changed by clinic admins only, checked (length, control characters, known languages).
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { actorIn, createActors } from '../helpers/actors.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';

t.test('the sender name and language: clinic admins set them, bad values are 400s naming the field', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a]);
  await db.admin.query('insert into app_public.clinic_settings (clinic_id) values ($1)', [clinics.a]);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const client = testClient(app);
  const clinic = { id: clinics.a, slug: 'clinic-a' };
  const admin = await client.clinicToken('clinic_admin', clinic, actorIn(db, clinics.a, 'clinic_admin').account);
  const nurse = await client.clinicToken('nurse', clinic, actorIn(db, clinics.a, 'nurse').account);
  const url = '/api/v1/clinics/clinic-a/settings';

  t.match((await client.call('GET', url, admin)).json(), { notificationSenderName: null, language: 'en' }, 'defaults: the clinic name, English');
  const changed = await client.call('PATCH', url, admin, { notificationSenderName: 'Clínica Norte', language: 'es' });
  t.equal(changed.statusCode, 200);
  t.match(changed.json(), { notificationSenderName: 'Clínica Norte', language: 'es' });
  const { rows } = await db.admin.query('select notification_sender_name, language from app_public.clinic_settings where clinic_id = $1', [clinics.a]);
  t.same(rows, [{ notification_sender_name: 'Clínica Norte', language: 'es' }]);

  t.equal((await client.call('PATCH', url, nurse, { language: 'en' })).statusCode, 403, 'only admins');
  for (const [body, field] of [
    [{ language: 'fr' }, 'body.language'],
    [{ notificationSenderName: 'x'.repeat(65) }, 'body.notificationSenderName'],
    [{ notificationSenderName: 'Evil\r\nBcc: all@example.test' }, 'body.notificationSenderName'],
  ] as const) {
    const refused = await client.call('PATCH', url, admin, body);
    t.match(refused.json(), { status: 400, errors: [{ path: field }] }, JSON.stringify(body));
  }
  t.match(
    (await client.call('PATCH', url, admin, { notificationSenderName: null })).json(),
    { notificationSenderName: null, language: 'es' },
    'null: back to the clinic name',
  );
  // The database holds the same rules for any other writer (GraphQL, SQL).
  const direct = await db.admin
    .query(`update app_public.clinic_settings set language = 'fr' where clinic_id = $1`, [clinics.a])
    .catch((e: { constraint?: string }) => e.constraint);
  t.equal(direct, 'clinic_settings_language_valid');
});
