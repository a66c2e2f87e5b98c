// The GraphQL abuse limits: each abusive document is refused with a clear error naming the limit
// and its maximum, and a stable `extensions.code`; documents within the limits run.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import t from 'tap';
import { defaultGraphqlConfig, type GraphqlConfig } from '../../src/graphql/config.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { errorCodes, graphql } from '../helpers/graphql.ts';

// The schema's names these tests rely on, in one place (they may change with the naming work).
/** A connection of the clinic's departments at the root. */
const DEPARTMENTS = 'departments';
/** A department's clinic (a relation), and the clinic's departments (a relation connection). */
const DEPARTMENT_CLINIC = 'clinic';
/** The root connection of patients, and a patient's record it was merged into (a Patient again): a depth of any size. */
const PATIENTS = 'patients';
const MERGED_INTO = 'mergedInto';

const DEPARTMENT_ROWS = 25;

async function setup(t: Test, graphqlConfig: Partial<GraphqlConfig> = {}) {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await db.admin.query(
    `insert into app_public.departments (clinic_id, code, name) select $1, 'D' || lpad(g::text, 2, '0'), 'Department ' || g from generate_series(1, $2) g`,
    [clinics.a, DEPARTMENT_ROWS],
  );
  const { app, logs } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, undefined, {
    graphql: { ...defaultGraphqlConfig('test'), ...graphqlConfig },
  });
  const token = await testClient(app).clinicToken('clinic_admin', { id: clinics.a, slug: 'clinic-a' });
  return { db, app, logs, token, clinics, run: (query: string, variables?: Record<string, unknown>) => graphql(app, token, { query, variables }) };
}

/** `{ patients { nodes { mergedInto { … rowId } } } }`: `levels` levels of fields in all. */
const nested = (levels: number) => `{ ${PATIENTS} { nodes { ${`${MERGED_INTO} { `.repeat(levels - 3)}rowId${' }'.repeat(levels - 3)} } } }`;

t.test('depth: a document nested deeper than the maximum is refused, fragments followed', async (t) => {
  const { run } = await setup(t, { maxDepth: 6 });
  const atLimit = await run(nested(6));
  t.equal(atLimit.status, 200, 'six levels run');
  t.equal(atLimit.errors, undefined);

  const tooDeep = await run(nested(7));
  t.equal(tooDeep.status, 400);
  t.same(errorCodes(tooDeep), ['GRAPHQL_DEPTH_LIMIT']);
  t.equal(tooDeep.errors?.[0]?.message, 'The operation is nested 7 levels deep; the maximum depth is 6.');
  t.equal(tooDeep.errors?.[0]?.extensions?.limit, 6, 'the maximum, for a client to read');
  t.equal(tooDeep.data, undefined, 'nothing ran');

  // The same seven levels, four of them inside fragments spread into each other.
  const throughFragments = await run(
    `{ ${PATIENTS} { nodes { ...Outer } } }
     fragment Outer on Patient { ${MERGED_INTO} { ...Inner } }
     fragment Inner on Patient { ${MERGED_INTO} { ${MERGED_INTO} { ${MERGED_INTO} { rowId } } } }`,
  );
  t.same(errorCodes(throughFragments), ['GRAPHQL_DEPTH_LIMIT'], 'fragments count where they are spread');

  // Fragments that spread each other: graphql's own rule refuses the cycle, and the depth rule ends.
  const cycle = await run(
    `{ ${PATIENTS} { nodes { ...A } } } fragment A on Patient { ${MERGED_INTO} { ...B } } fragment B on Patient { ${MERGED_INTO} { ...A } }`,
  );
  t.equal(cycle.status, 400);
  t.match(cycle.errors?.[0]?.message, /Cannot spread fragment "A" within itself/);
});

t.test('aliases: more aliased fields than the maximum are refused, counted where fragments are spread', async (t) => {
  const { run } = await setup(t, { maxAliases: 4 });
  const aliased = (count: number) => Array.from({ length: count }, (_, i) => `a${i}: __typename`).join(' ');
  t.same((await run(`{ ${DEPARTMENTS} { ${aliased(4)} } }`)).errors, undefined, 'four aliases run');

  const five = await run(`{ ${DEPARTMENTS} { ${aliased(5)} } }`);
  t.equal(five.status, 400);
  t.same(errorCodes(five), ['GRAPHQL_ALIAS_LIMIT']);
  t.equal(five.errors?.[0]?.message, 'The operation has 5 aliases; the maximum is 4.');

  // Two aliases in a fragment spread three times: six aliases executed, though the text has two.
  const spread = await run(
    `{ ${DEPARTMENTS} { ...F } x: ${DEPARTMENTS} { ...F } y: ${DEPARTMENTS} { ...F } } fragment F on DepartmentConnection { ${aliased(2)} }`,
  );
  t.same(errorCodes(spread), ['GRAPHQL_ALIAS_LIMIT']);
  t.equal(spread.errors?.[0]?.message, 'The operation has 8 aliases; the maximum is 4.');
});

t.test('root fields: an operation asking for more root fields than the maximum is refused', async (t) => {
  const { run } = await setup(t, { maxRootFields: 3 });
  const rootFields = (count: number) => Array.from({ length: count }, (_, i) => `r${i}: ${DEPARTMENTS} { totalCount }`).join(' ');
  t.same((await run(`{ ${rootFields(3)} }`)).errors, undefined, 'three root fields run');

  const four = await run(`{ ${rootFields(3)} __typename }`);
  t.equal(four.status, 400);
  t.same(errorCodes(four), ['GRAPHQL_ROOT_FIELD_LIMIT']);
  t.equal(four.errors?.[0]?.message, 'The operation asks for 4 root fields; the maximum is 3.');
  const throughFragment = await run(`{ ...Two ...Two } fragment Two on Query { a: __typename b: __typename }`);
  t.same(errorCodes(throughFragment), ['GRAPHQL_ROOT_FIELD_LIMIT'], 'root fields inside fragments count');
});

t.test('introspection: off, __schema and __type are refused and __typename still answers', async (t) => {
  const { run } = await setup(t, { introspection: false });
  const schema = await run('{ __schema { queryType { name } } }');
  t.equal(schema.status, 400);
  // One error per introspection field asked for (`__schema`, then `queryType`), as graphql's rule reports them.
  t.same(errorCodes(schema), ['GRAPHQL_INTROSPECTION_DISABLED', 'GRAPHQL_INTROSPECTION_DISABLED']);
  t.match(schema.errors?.[0]?.message, 'GraphQL introspection has been disabled, but the requested query contained the field "__schema".');
  t.same(errorCodes(await run('{ __type(name: "Query") { name } }')), ['GRAPHQL_INTROSPECTION_DISABLED']);
  const typename = await run(`{ __typename ${DEPARTMENTS} { __typename } }`);
  t.same(typename.data, { __typename: 'Query', [DEPARTMENTS]: { __typename: 'DepartmentConnection' } });
});

t.test('introspection: on (the default outside production), the schema answers, deeper than the depth limit', async (t) => {
  const { run } = await setup(t, { maxDepth: 3 });
  t.same((await run('{ __schema { queryType { name } } }')).data, { __schema: { queryType: { name: 'Query' } } });
  // GraphiQL's introspection query nests `ofType` far deeper than data queries need: it is not held to the depth limit.
  const deep = await run('{ __type(name: "Query") { fields { type { ofType { ofType { name } } } } } }');
  t.equal(deep.errors, undefined, 'introspection fields are not followed by the depth measure');
  t.same(errorCodes(await run(nested(4))), ['GRAPHQL_DEPTH_LIMIT'], 'while data fields are');
});

t.test('page size: first/last above the maximum are refused, no first/last reads the default page', async (t) => {
  const { run } = await setup(t, { maxPageSize: 10, defaultPageSize: 4 });
  const page = `${DEPARTMENTS}(orderBy: CODE_ASC) { totalCount nodes { code } pageInfo { hasNextPage hasPreviousPage } }`;
  const codes = (...numbers: number[]) => numbers.map((n) => ({ code: `D${String(n).padStart(2, '0')}` }));

  const byDefault = await run(`{ ${page} }`);
  t.same(byDefault.data?.[DEPARTMENTS], { totalCount: DEPARTMENT_ROWS, nodes: codes(1, 2, 3, 4), pageInfo: { hasNextPage: true, hasPreviousPage: false } });
  const atMax = await run(`{ ${DEPARTMENTS}(first: 10, orderBy: CODE_ASC) { nodes { code } } }`);
  t.same(atMax.data?.[DEPARTMENTS], { nodes: codes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10) }, 'first: 10 reads ten');
  const last = await run(`{ ${DEPARTMENTS}(last: 2, orderBy: CODE_ASC) { nodes { code } pageInfo { hasNextPage hasPreviousPage } } }`);
  t.same(
    last.data?.[DEPARTMENTS],
    { nodes: codes(24, 25), pageInfo: { hasNextPage: false, hasPreviousPage: true } },
    'last alone is not capped by the default',
  );

  const tooMany = await run(`{ ${DEPARTMENTS}(first: 11) { nodes { code } } }`);
  t.same(errorCodes(tooMany), ['GRAPHQL_PAGE_SIZE_LIMIT']);
  t.equal(tooMany.errors?.[0]?.message, 'first: 11 is not a page size this API serves; first must be between 0 and 10.');
  t.same(tooMany.errors?.[0]?.path, [DEPARTMENTS]);
  t.equal(tooMany.data?.[DEPARTMENTS], null, 'the field is not read');

  const relation = await run(`{ ${DEPARTMENTS}(first: 1) { nodes { ${DEPARTMENT_CLINIC} { ${DEPARTMENTS}(orderBy: CODE_ASC) { nodes { code } } } } } }`);
  t.same(
    relation.data,
    { [DEPARTMENTS]: { nodes: [{ [DEPARTMENT_CLINIC]: { [DEPARTMENTS]: { nodes: codes(1, 2, 3, 4) } } }] } },
    "a relation's connection reads the default page",
  );
  const relationTooMany = await run(`{ ${DEPARTMENTS}(first: 1) { nodes { ${DEPARTMENT_CLINIC} { ${DEPARTMENTS}(first: 11) { nodes { code } } } } } }`);
  t.same(errorCodes(relationTooMany), ['GRAPHQL_PAGE_SIZE_LIMIT'], "a relation's first above the maximum is refused");
  // The relation is read in its parent's query, so the parent is not read either.
  t.same(relationTooMany.data, { [DEPARTMENTS]: null });
  const throughVariable = await run(`query ($n: Int) { ${DEPARTMENTS}(last: $n) { nodes { code } } }`, { n: 1000 });
  t.same(errorCodes(throughVariable), ['GRAPHQL_PAGE_SIZE_LIMIT'], 'a variable is held to it too');
  t.equal(throughVariable.errors?.[0]?.message, 'last: 1000 is not a page size this API serves; last must be between 0 and 10.');
});

t.test('document size: a body over the maximum is a 413 problem before any GraphQL is read', async (t) => {
  const { app, token, run } = await setup(t, { maxDocumentBytes: 2048 });
  const padding = ' '.repeat(2048);
  const response = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: { query: `{ __typename${padding}}` },
  });
  t.equal(response.statusCode, 413);
  t.match(response.headers['content-type'], /^application\/problem\+json/);
  t.match(response.json(), { status: 413, code: 'PAYLOAD_TOO_LARGE' });
  t.same((await run(`{ __typename${' '.repeat(1900)}}`)).data, { __typename: 'Query' }, 'just under the limit runs');
});

t.test('batching: a JSON array of operations is a 400 that says one operation per request', async (t) => {
  const { app, token } = await setup(t);
  const response = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
  });
  t.equal(response.statusCode, 400);
  t.match(response.headers['content-type'], /^application\/problem\+json/);
  t.match(response.json(), {
    code: 'VALIDATION_FAILED',
    errors: [{ path: 'body', message: 'Batched requests are not accepted: send one operation per request (a JSON object, not an array).' }],
  });
});

t.test('rate limit: operations per minute per caller, then 429 with Retry-After; another caller has its own count', async (t) => {
  const { app, clinics, run } = await setup(t, { operationsPerMinute: 3 });
  const statuses: number[] = [];
  let last: Awaited<ReturnType<typeof run>> | undefined;
  for (let i = 0; i < 4; i++) {
    last = await run('{ __typename }');
    statuses.push(last.status);
  }
  t.same(statuses, [200, 200, 200, 429], 'three operations a minute');
  const refused = last!.response;
  t.match(refused.headers['content-type'], /^application\/problem\+json/);
  t.match(refused.json(), {
    status: 429,
    code: 'RATE_LIMITED',
    detail: /^Too many GraphQL operations: at most 3 a minute for each caller; retry in \d+ (seconds?|minute)\.$/,
  });
  const retryAfter = Number(refused.headers['retry-after']);
  t.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After within the minute (${retryAfter})`);
  const otherCaller = await testClient(app).clinicToken('nurse', { id: clinics.a, slug: 'clinic-a' });
  t.equal((await graphql(app, otherCaller, '{ __typename }')).status, 200, 'another account of the same clinic, from the same address, is counted apart');
});

t.test('trusted documents: only the persisted operations run; a free-form query and an unknown id are refused', async (t) => {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-trusted-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  const document = `query DepartmentCount { ${DEPARTMENTS} { totalCount } }`;
  const documentId = createHash('sha256').update(document).digest('hex');
  await writeFile(path.join(directory, `${documentId}.graphql`), document);
  const { app, token } = await setup(t, { trustedDocumentsDir: directory });
  const send = (payload: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload });

  const persisted = await send({ documentId });
  t.equal(persisted.statusCode, 200);
  t.same(persisted.json().data, { [DEPARTMENTS]: { totalCount: DEPARTMENT_ROWS } }, 'the persisted operation runs');

  const freeForm = await send({ query: document });
  t.equal(freeForm.statusCode, 400, 'even the same text, sent as a query');
  t.match(freeForm.json(), {
    errors: [
      {
        message: 'This server runs trusted documents only: send the documentId of a persisted operation, not a query.',
        extensions: { code: 'GRAPHQL_TRUSTED_DOCUMENT_REQUIRED' },
      },
    ],
  });
  const unknown = await send({ documentId: 'f'.repeat(64) });
  t.equal(unknown.statusCode, 400);
  t.match(unknown.json(), {
    errors: [
      {
        message: 'Unknown documentId: this server runs only the persisted operations it was deployed with.',
        extensions: { code: 'GRAPHQL_TRUSTED_DOCUMENT_REQUIRED' },
      },
    ],
  });
  t.equal((await send({ documentId: '../../etc/passwd' })).statusCode, 400, 'an id is a name in the folder, never a path');
});

t.test('trusted documents: a folder that cannot be read stops the start, naming the variable', async (t) => {
  const db = await createTestDatabase(t);
  const missing = path.join(os.tmpdir(), `clinicbase-no-such-folder-${process.pid}`);
  await t.rejects(
    buildTestApp(t, db.authenticatorUrl, undefined, undefined, undefined, { graphql: { ...defaultGraphqlConfig('test'), trustedDocumentsDir: missing } }),
    { message: `GRAPHQL_TRUSTED_DOCUMENTS_DIR: cannot read the folder ${missing} (ENOENT)` },
  );
});

t.test('statement_timeout: a statement running past the GraphQL timeout is cancelled, 503-like error without SQL', async (t) => {
  const { db, app, logs, run } = await setup(t, { statementTimeoutMs: 200 });
  // A test-only trigger that makes every insert into departments slow (triggers are not part of the schema).
  await db.admin.query(`
    create function public.test_slow_insert() returns trigger language plpgsql as $$ begin perform pg_sleep(3); return new; end $$;
    create trigger test_slow_insert before insert on app_public.departments for each row execute function public.test_slow_insert()`);
  t.same((await run('{ __typename }')).data, { __typename: 'Query' }, 'the schema is built before the clock starts');
  const started = performance.now();
  const slow = await run(`mutation { createDepartment(input: { department: { code: "SLOW", name: "Slow" } }) { department { code } } }`);
  const ms = performance.now() - started;
  t.ok(ms < 2000, `cancelled after about 200 ms, not after the 3 s sleep (${Math.round(ms)} ms)`);
  t.same(errorCodes(slow), ['SERVICE_UNAVAILABLE']);
  t.equal(slow.errors?.[0]?.message, 'Service temporarily unavailable');
  t.match(slow.errors?.[0]?.extensions, { requestId: String });
  t.notMatch(slow.response.body, /insert|pg_sleep|departments|statement timeout/i, 'no SQL, no table, no database message');
  t.same(
    logs()
      .filter((line) => line.msg === 'graphql operation failed')
      .map((line) => (line.db as { code?: string } | undefined)?.code),
    ['57014'],
    'logged as cancelled by statement_timeout',
  );
  const { rows } = await db.admin.query(`select count(*)::int as n from app_public.departments where code = 'SLOW'`);
  t.same(rows, [{ n: 0 }], 'nothing written');
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'the connection is back in the pool');
});
