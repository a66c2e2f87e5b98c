// One identity path: POST /graphql passes the clinic guard REST routes pass, before any GraphQL
// is parsed. No token, a bad one or a platform operator's: 401 problem+json and nothing runs; a
// suspended clinic: 403; a membership deactivated or a role changed since the token: 401 at the
// next blocked-access refresh; a support token reads, every mutation is refused with nothing
// written, and each use is audited as REST audits it; a member's token becomes the transaction's
// settings (clinic, user, role, request id), which the database sees and the audit log records.
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { actorIn } from '../helpers/actors.ts';
import { graphql } from '../helpers/graphql.ts';
import {
  createInput,
  encodeNodeId,
  GRAPHQL_TABLES,
  graphqlSweep,
  inputFields,
  keyValues,
  mutationDocument,
  mutationKind,
  mutationsOf,
  rowOf,
  type Sweep,
} from '../helpers/graphql-tables.ts';
import { fixtureRefs } from '../helpers/isolation.ts';
import { ROLES } from '../helpers/matrix.ts';
import { createOperator } from '../helpers/people.ts';
import { signWithTestKey } from '../helpers/tokens.ts';

/** The clinics the transaction's settings let the caller see: the token's clinic alone. */
const CLINICS = '{ clinics { nodes { rowId } } }';
const CREATE_DEPARTMENT = 'mutation { createDepartment(input: { department: { code: "IDT", name: "Identity" } }) { clientMutationId } }';

/**
 * A refusal of the guard, as REST answers it: problem+json with the status and the code, and on a
 * 401 a Bearer challenge (not for an ended support access: a new login would not help).
 */
function refusedByGuard(t: Test, response: LightMyRequestResponse, status: 401 | 403, what: string, challenge = status === 401): void {
  t.equal(response.statusCode, status, `${what}: ${status}`);
  t.match(response.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`);
  t.match(response.json(), { status, code: status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN' }, `${what}: its code`);
  t.notOk('data' in response.json(), `${what}: no data`);
  if (challenge) t.equal(response.headers['www-authenticate'], 'Bearer', `${what}: a Bearer challenge`);
}

/** Every row of the clinic data (the audit log aside), as one digest: unchanged means nothing was written. */
async function digestOfData({ db, tables }: Sweep): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const table of tables.filter((candidate) => candidate.schema === 'app_public')) {
    const { rows } = await db.admin.query<{ digest: string }>(
      `select md5(coalesce(string_agg(to_jsonb(t)::text, ',' order by to_jsonb(t)::text), '')) as digest from ${table.qualified} t`,
    );
    digests[table.qualified] = rows[0]!.digest;
  }
  return digests;
}

t.test('the clinic guard in front of GraphQL', async (t) => {
  const sweep = await graphqlSweep(t);
  const { app, db, clinics } = sweep;
  const post = (token: string | undefined, query: string) =>
    app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: { query },
    });
  const departments = async () => (await db.admin.query(`select count(*)::int as n from app_public.departments where code = 'IDT'`)).rows[0].n as number;

  t.test('no token: 401 before the document is even parsed, nothing runs', async (t) => {
    refusedByGuard(t, await post(undefined, CREATE_DEPARTMENT), 401, 'a mutation');
    refusedByGuard(t, await post(undefined, '{ this is not GraphQL'), 401, 'a document that does not parse');
    refusedByGuard(t, await post(undefined, '{ __schema { types { name } } }'), 401, 'introspection');
    t.equal(await departments(), 0, 'nothing written');
  });

  t.test('a malformed, tampered, expired or wrong-audience token: 401', async (t) => {
    const admin = actorIn(db, clinics.a, 'clinic_admin');
    const claims = { sub: admin.account, clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'clinic_admin', jti: randomUUID(), amr: ['pwd'] };
    const good = signWithTestKey(claims);
    const [header, , signature] = good.split('.');
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, clinic_id: clinics.b })).toString('base64url')}.${signature}`;
    const bad = {
      malformed: 'not-a-token',
      'tampered (clinic B in a signed token of A)': forged,
      expired: signWithTestKey(claims, { now: Date.now() - 3_600_000 }),
      'for the platform audience': signWithTestKey(claims, { audience: 'clinicbase-platform' }),
    };
    for (const [what, token] of Object.entries(bad)) refusedByGuard(t, await post(token, CREATE_DEPARTMENT), 401, what);
    t.equal(await departments(), 0, 'nothing written');
    t.equal((await post(good, CLINICS)).statusCode, 200, 'the same claims, well signed, pass (the refusals were the flaws)');
  });

  t.test("a platform operator's token opens no clinic", async (t) => {
    const operator = await createOperator(db, 'operator@example.test', 'a long and correct password');
    const token = await app.signPlatformToken({ accountId: operator, twoFactor: true });
    refusedByGuard(t, await post(token, '{ departments { nodes { rowId } } }'), 401, 'a read');
    refusedByGuard(t, await post(token, CREATE_DEPARTMENT), 401, 'a mutation');
  });

  t.test("a member's token is the transaction's settings: clinic, user, role, request id", async (t) => {
    for (const role of ROLES) {
      const result = await graphql(app, await sweep.token(role), CLINICS);
      t.same(result.data, { clinics: { nodes: [{ rowId: clinics.a }] } }, `${role}: the token's clinic`);
    }
    const admin = actorIn(db, clinics.a, 'clinic_admin');
    const requestId = `graphql-identity-${randomUUID()}`;
    const created = await graphql(
      app,
      await sweep.token('clinic_admin'),
      'mutation { createDepartment(input: { department: { code: "SET", name: "Settings" } }) { department { rowId } } }',
      { 'x-request-id': requestId },
    );
    t.equal(created.response.headers['x-request-id'], requestId);
    const rowId = (created.data as { createDepartment: { department: { rowId: string } } }).createDepartment.department.rowId;
    t.match(await rowOf(db, 'app_public.departments', rowId), { clinic_id: clinics.a, code: 'SET' }, "the row is the token's clinic's");
    const { rows: audit } = await db.admin.query(
      `select clinic_id, actor_user_id, actor_role, request_id, db_role from app_audit.audit_log where table_name = 'app_public.departments' and action = 'INSERT' and row_key->>'id' = $1`,
      [rowId],
    );
    t.same(
      audit,
      [{ clinic_id: clinics.a, actor_user_id: admin.account, actor_role: 'clinic_admin', request_id: requestId, db_role: 'app_authenticator/app_user' }],
      'the audit log names the clinic, the user, the role and the request',
    );
  });

  t.test('a support token reads, every mutation is refused with nothing written, each use audited', async (t) => {
    const operator = await createOperator(db, 'support@example.test', 'a long and correct password');
    const admin = await sweep.token('clinic_admin');
    const granted = await app.inject({
      method: 'POST',
      url: '/api/v1/clinics/clinic-a/support-access',
      headers: { authorization: `Bearer ${admin}` },
      payload: { operatorEmail: 'support@example.test', reason: 'Ticket 10: GraphQL', hours: 1 },
    });
    t.equal(granted.statusCode, 201);
    const grant = granted.json().id as string;
    const operatorToken = await app.signPlatformToken({ accountId: operator, twoFactor: true });
    const issued = await app.inject({
      method: 'POST',
      url: `/api/v1/platform/support-access/${grant}/token`,
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    t.equal(issued.statusCode, 200);
    const support = issued.json().accessToken as string;
    const uses = async () =>
      (
        await db.admin.query<{ clinic_id: string; actor_user_id: string; request_id: string; details: Record<string, unknown> }>(
          `select clinic_id, actor_user_id, request_id, details from app_audit.audit_log where action = 'support.access.used' order by id`,
        )
      ).rows;

    const requestId = `support-read-${randomUUID()}`;
    const read = await graphql(
      app,
      support,
      { query: 'query SupportReads { departments { nodes { rowId } } clinics { nodes { rowId } } }', operationName: 'SupportReads' },
      { 'x-request-id': requestId },
    );
    t.same(read.errors, undefined, 'the support token reads');
    const seen = read.data as { departments: { nodes: { rowId: string }[] }; clinics: { nodes: { rowId: string }[] } };
    t.ok(
      seen.departments.nodes.some((node) => node.rowId === sweep.rows['app_public.departments']!.a),
      "clinic A's departments",
    );
    t.same(seen.clinics.nodes, [{ rowId: clinics.a }], 'in clinic A alone');
    t.same(
      await uses(),
      [
        {
          clinic_id: clinics.a,
          actor_user_id: operator,
          request_id: requestId,
          details: { grant, method: 'POST', route: '/graphql', operationName: 'SupportReads' },
        },
      ],
      'the read is audited as a use of the grant, as REST audits one',
    );

    const before = await digestOfData(sweep);
    // Every input made before any is sent: a write that got through must not break the next input.
    const attempts = [];
    for (const [table, entry] of Object.entries(GRAPHQL_TABLES)) {
      for (const mutation of mutationsOf(sweep.schema, entry.type)) attempts.push({ mutation, input: await mutationInput(sweep, table, mutation) });
    }
    const attempted: string[] = [];
    for (const { mutation, input } of attempts) {
      const result = await graphql(app, support, { query: mutationDocument(mutation), variables: { input } });
      t.match(result.errors, [{ message: 'Support access is read-only.', extensions: { code: 'FORBIDDEN' } }], `${mutation.name}: refused as REST refuses it`);
      attempted.push(mutation.name);
    }
    t.same(attempted.sort(), Object.keys(sweep.schema.getMutationType()!.getFields()).sort(), 'every mutation of the schema tried');
    t.same(await digestOfData(sweep), before, 'nothing written in any table');
    t.equal((await uses()).length, 1 + attempted.length, 'each refused mutation is audited as a use too');
    t.same((await db.admin.query('select revoked_at from app_public.support_access_grants where id = $1', [grant])).rows, [{ revoked_at: null }]);

    const revoked = await app.inject({
      method: 'POST',
      url: `/api/v1/clinics/clinic-a/support-access/${grant}/revoke`,
      headers: { authorization: `Bearer ${admin}` },
    });
    t.equal(revoked.statusCode, 200);
    refusedByGuard(t, await post(support, '{ departments { nodes { rowId } } }'), 401, 'after revocation', false);
  });

  t.test('a deactivated membership or a changed role: the old token is refused once the process re-reads them', async (t) => {
    const nurse = await sweep.token('nurse');
    const receptionist = await sweep.token('receptionist');
    t.equal((await post(nurse, CLINICS)).statusCode, 200);
    await db.admin.query(`update app_public.clinic_members set status = 'deactivated' where id = $1`, [actorIn(db, clinics.a, 'nurse').member]);
    await db.admin.query(`update app_public.clinic_members set role = 'clinic_admin' where id = $1`, [actorIn(db, clinics.a, 'receptionist').member]);
    await app.refreshBlockedAccess();
    refusedByGuard(t, await post(nurse, '{ departments { nodes { rowId } } }'), 401, 'deactivated');
    refusedByGuard(t, await post(receptionist, CREATE_DEPARTMENT), 401, 'role changed');
    t.equal(await departments(), 0, 'nothing written');
  });

  t.test('a suspended clinic: 403, nothing runs; reactivated, it answers again', async (t) => {
    const admin = await sweep.token('clinic_admin');
    await db.admin.query(`update app_public.clinics set status = 'suspended' where id = $1`, [clinics.a]);
    await app.refreshBlockedAccess();
    refusedByGuard(t, await post(admin, CREATE_DEPARTMENT), 403, 'suspended');
    t.equal(await departments(), 0, 'nothing written');
    await db.admin.query(`update app_public.clinics set status = 'active' where id = $1`, [clinics.a]);
    await app.refreshBlockedAccess();
    t.equal((await post(admin, CLINICS)).statusCode, 200, 'reactivated');
  });
});

/** An input for any mutation of the table: the fixture for a create, the keys of A's row (and the patch) otherwise. */
async function mutationInput(sweep: Sweep, table: string, mutation: Parameters<typeof mutationKind>[0]): Promise<Record<string, unknown>> {
  const { db, rows, clinics } = sweep;
  if (mutationKind(mutation) === 'insert') return createInput(mutation, table, fixtureRefs(db, rows, clinics, 'a'));
  const row = (await rowOf(db, table, rows[table]!.a))!;
  const fields = Object.values(inputFields(mutation).getFields());
  const patch = fields.some((field) => field.name === 'patch') ? { patch: GRAPHQL_TABLES[table]!.patch } : {};
  return { ...keyValues(fields, row, encodeNodeId([GRAPHQL_TABLES[table]!.type, clinics.a, row.id])), ...patch };
}
