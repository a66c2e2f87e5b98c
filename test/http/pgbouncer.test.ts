// The API behind a transaction-mode connection pooler that does not track prepared statements
// (Debian's PgBouncer 1.18). With prepared statements off (DATABASE_PREPARED_STATEMENTS=false),
// every message parses its own statements unnamed, so the pooler may hand each transaction to any
// server connection: 16 concurrent clients of two clinics, through the API's pool of 8 and 3 server
// connections, get no error and never a row of the other clinic. With prepared statements on, the
// same load fails on most requests (42P05, 26000: a statement prepared on another server connection).
// Runs where `pgbouncer` is installed; CI installs it, so there a missing pgbouncer is a failure.
import t from 'tap';
import { TEST_KEYS, buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { findPgBouncer, startPgBouncer } from '../helpers/pgbouncer.ts';

const CLIENTS = 16;
const READS_PER_CLIENT = 25;
const pgbouncer = findPgBouncer();

if (!pgbouncer && process.env.CI) t.fail('pgbouncer is not installed; CI installs it (.ci/run) and must run this test');

const skip = pgbouncer ? false : 'pgbouncer is not installed (apt-get install pgbouncer); CI runs this test';

t.test('isolation through PgBouncer in transaction mode, prepared statements off', { skip }, async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  for (const [clinic, prefix] of [
    [clinics.a, 'A'],
    [clinics.b, 'B'],
  ] as const) {
    await db.admin.query(`insert into app_public.departments (clinic_id, code, name) select $1, $2 || g, 'Department ' || g from generate_series(1, 5) g`, [
      clinic,
      prefix,
    ]);
  }
  const url = await startPgBouncer(t, pgbouncer as string, db.adminUrl, { serverConnections: 3 });
  const { app } = await buildTestApp(t, url, TEST_KEYS, 1000, { poolSize: 8, transactions: { preparedStatements: false } });
  const client = testClient(app);
  const adminOf = (clinic: 'a' | 'b') => client.clinicToken('clinic_admin', { id: clinics[clinic], slug: `clinic-${clinic}` });
  const tokens = { a: await adminOf('a'), b: await adminOf('b') };

  const failures: string[] = [];
  const foreign: string[] = [];
  let answered = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const clinic = i % 2 === 0 ? 'a' : 'b';
      const prefix = clinic.toUpperCase();
      const url = `/api/v1/clinics/clinic-${clinic}/departments`;
      // One write each: an explicit transaction ([begin, context, insert], then commit).
      const created = await client.post(url, { code: `${prefix}W${i}`, name: `Written by ${i}` }, tokens[clinic]);
      answered++;
      if (created.statusCode !== 201) failures.push(`POST ${created.statusCode} ${created.body}`);
      for (let n = 0; n < READS_PER_CLIENT; n++) {
        const listed = await client.call('GET', `${url}?limit=100`, tokens[clinic]);
        answered++;
        if (listed.statusCode !== 200) failures.push(`GET ${listed.statusCode} ${listed.body}`);
        else
          foreign.push(
            ...listed
              .json()
              .items.map((d: { code: string }) => d.code)
              .filter((code: string) => !code.startsWith(prefix)),
          );
      }
    }),
  );
  t.equal(answered, CLIENTS * (READS_PER_CLIENT + 1), 'every request answered');
  t.same(failures, [], 'no request failed');
  t.same(foreign, [], 'no client saw a row of the other clinic');

  const stored = await db.admin.query<{ slug: string; code: string }>(
    'select c.slug, d.code from app_public.departments d join app_public.clinics c on c.id = d.clinic_id order by 1, 2',
  );
  t.equal(stored.rows.length, 10 + CLIENTS, 'every write stored once');
  t.ok(
    stored.rows.every((r) => r.code.startsWith(r.slug.slice(-1).toUpperCase())),
    'each in its own clinic',
  );
  const servers = await db.admin.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = $1 and usename = 'app_authenticator'`, [
    db.name,
  ]);
  t.ok(servers.rows[0]!.n <= 3, `through PgBouncer's 3 server connections, not the app's 8 (${servers.rows[0]!.n} seen)`);
});
