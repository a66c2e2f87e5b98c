// When the GraphQL schema is built (src/plugins/graphql.ts): at start outside the tests,
// so the first request does not wait for it; on the first GraphQL request in the tests (env `test`), whose many
// apps mostly never see one. The introspection is what shows it: it runs with settings that are not
// a request's context, a statement the adaptor prepares on the connection under its own name.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { graphql } from '../helpers/graphql.ts';

/** Whether the schema's introspection ran on the app's one pooled connection. */
async function introspected(app: FastifyInstance): Promise<boolean> {
  const client = await app.pool.connect();
  try {
    const { rows } = await client.query(`select count(*)::int as n from pg_prepared_statements where name = 'clinicbase_graphql_settings'`);
    return rows[0].n === 1;
  } finally {
    client.release();
  }
}

t.test('in the tests, the schema is built on the first GraphQL request', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl, undefined, 1000, { poolSize: 1 });
  await app.ready();
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200);
  await sleep(1500);
  t.notOk(await introspected(app), 'no introspection while nothing asked for GraphQL');
  const token = await testClient(app).clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' });
  t.same((await graphql(app, token, '{ departments { nodes { code } } }')).data, { departments: { nodes: [] } }, 'the first request waits for the build');
  t.ok(await introspected(app), 'introspected once asked');
});

t.test('elsewhere, as the app is built, before any request', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl, undefined, 1000, { poolSize: 1 }, { env: 'development' });
  await app.ready();
  let built = false;
  for (let waited = 0; !built && waited < 20_000; waited += 250) {
    await sleep(250);
    built = await introspected(app);
  }
  t.ok(built, 'introspected without a request or a getSchema() call');
});
