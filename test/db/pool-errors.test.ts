// A pooled client is never without an 'error' listener: between pg-pool handing a client out and
// withContext listening to it, a broken connection must not become an unhandled 'error' (which
// ends the process). The race is made deterministic: the error is emitted in the microtask right
// after checkout, before withContext's own continuation runs.
import { sql } from 'kysely';
import t from 'tap';
import { createPool } from '../../src/db/pool.ts';
import { withTenant } from '../../src/db/tenant.ts';
import { fromDatabaseError } from '../../src/errors.ts';
import { createTestDatabase } from '../helpers/db.ts';

t.test('a connection that breaks between checkout and withContext fails that transaction only', async (t) => {
  const db = await createTestDatabase(t);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const ctx = { clinicId: null, userId: null, role: null } as const;
  const read = () => withTenant(pool, ctx, (trx) => trx.selectNoFrom(sql<number>`1`.as('one')).execute());

  let breakNext = true;
  pool.on('acquire', (client) => {
    if (!breakNext) return;
    breakNext = false;
    queueMicrotask(() => {
      const terminated = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' });
      (client as unknown as { _queryable: boolean })._queryable = false;
      client.emit('error', terminated);
    });
  });
  const failed = await read().then(
    () => undefined,
    (error: unknown) => error,
  );
  t.ok(failed, 'the transaction on the broken connection fails');
  t.equal(fromDatabaseError(failed)?.status, 503, 'as 503 SERVICE_UNAVAILABLE');
  t.same(await read(), [{ one: 1 }], 'the pool drops the broken client and the next transaction is served');
  t.equal(pool.totalCount, 1, 'by a new connection');
});

t.test('a connection whose prepared statements the server no longer has is destroyed, so the next transaction is served', async (t) => {
  const db = await createTestDatabase(t);
  const pool = createPool({ url: db.authenticatorUrl, size: 1 });
  t.teardown(() => pool.end());
  const ctx = { clinicId: null, userId: null, role: null } as const;
  const read = () => withTenant(pool, ctx, (trx) => trx.selectNoFrom(sql<number>`1`.as('one')).execute());
  t.same(await read(), [{ one: 1 }], 'the read is prepared on the one connection');
  // As after DISCARD ALL behind a pooler, or a server that lost them: pg still believes they exist.
  const lost = await withTenant(pool, ctx, async (trx) => {
    await sql`deallocate all`.execute(trx);
    return trx.selectNoFrom(sql<number>`1`.as('one')).execute();
  }).then(
    () => 'resolved',
    (error: { code?: string }) => error.code,
  );
  t.equal(lost, '26000', 'the statement on that connection fails');
  t.same(await read(), [{ one: 1 }], 'the next transaction is served (on a new connection)');
  t.same(await read(), [{ one: 1 }], 'and the one after it');
});
