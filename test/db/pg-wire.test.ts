// src/db/pg-wire.ts writes withTenant's BEGIN and context statement into the same protocol
// message as the query they serve, through pg internals that pg does not promise to keep. This file
// fails the moment one of them changes: after a pg upgrade, revisit src/db/pg-wire.ts first.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import pg from 'pg';
import t from 'tap';
import { createPool } from '../../src/db/pool.ts';
import { parsedStatementsOf, queryWithPrefix, type Prefix } from '../../src/db/pg-wire.ts';
import { createTestDatabase } from '../helpers/db.ts';

/** An expectation on pg, and what to do when it fails. */
const pgStill = (what: string) => `${what} (if not: pg's internals changed, revisit src/db/pg-wire.ts)`;

t.test('pg is pinned to one exact version, the one installed', async (t) => {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const pinned = manifest.dependencies.pg as string;
  t.match(pinned, /^\d+\.\d+\.\d+$/, 'package.json names an exact pg version (no ^ or ~): a new pg is taken on purpose, with this file');
  const installed = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('pg/package.json'), 'utf8')).version;
  t.equal(installed, pinned, 'and that version is the one installed');
});

t.test('the pg internals that src/db/pg-wire.ts relies on are still there', async (t) => {
  const db = await createTestDatabase(t);
  const client = await db.pool.connect();
  t.teardown(() => client.release());
  const connection = (client as unknown as { connection?: Record<string, unknown> & { stream?: Record<string, unknown> } }).connection;
  t.type(connection, 'object', pgStill('a connected Client has .connection'));
  for (const method of ['parse', 'bind', 'execute']) {
    t.type(connection?.[method], 'function', pgStill(`its connection has ${method}()`));
  }
  t.type(connection?.stream?.cork, 'function', pgStill('connection.stream has cork()'));
  t.type(connection?.stream?.uncork, 'function', pgStill('connection.stream has uncork()'));
  t.type(connection?.parsedStatements, 'object', pgStill('connection has parsedStatements'));
  t.type(pg.Query.prototype.submit, 'function', pgStill('Query.prototype has submit()'));

  await client.query({ name: 'pg_wire_probe', text: 'select 1' });
  t.equal(parsedStatementsOf(client).pg_wire_probe, 'select 1', pgStill('parsedStatements records the named statements pg prepared'));
});

t.test('the prefix statements run in the same message and implicit transaction as the query', async (t) => {
  const db = await createTestDatabase(t);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const client = await pool.connect();
  t.teardown(() => client.release());
  const setRequestId = (value: string): Prefix => ({
    statement: { name: 'pg_wire_test_prefix', text: "select from (select set_config('app.request_id', $1, true)) as prefix" },
    values: [value],
  });
  const readRequestId = { text: "select current_setting('app.request_id', true) as id", values: [] };
  const named = async () => (await client.query('select name from pg_prepared_statements order by name')).rows.map((r) => r.name);

  const unprepared = await queryWithPrefix(client, [setRequestId('unprepared')], readRequestId, false);
  t.same(unprepared.rows, [{ id: 'unprepared' }], pgStill('unprepared, the query sees what its prefix set and resolves with its own result'));
  t.same(await named(), [], 'nothing was prepared');

  const first = await queryWithPrefix(client, [setRequestId('first')], readRequestId, true);
  const second = await queryWithPrefix(client, [setRequestId('second')], { name: 'pg_wire_test_read', ...readRequestId }, true);
  t.same([first.rows, second.rows], [[{ id: 'first' }], [{ id: 'second' }]], pgStill('prepared, likewise'));
  t.same(await named(), ['pg_wire_test_prefix', 'pg_wire_test_read'], 'the prefix statement was prepared once and reused');

  const after = await client.query(readRequestId);
  t.same(after.rows, [{ id: '' }], 'what the prefix set was transaction-local: gone with the implicit transaction');

  const failing: Prefix = { statement: { name: 'pg_wire_test_failing', text: 'select 1 / $1::int' }, values: ['0'] };
  await t.rejects(
    queryWithPrefix(client, [failing], { text: "select set_config('app.request_id', 'ran', false)", values: [] }, true),
    { code: '22012' },
    'an error in a prefix statement fails the query',
  );
  t.same((await client.query(readRequestId)).rows, [{ id: '' }], 'and the query after it did not run');
});
