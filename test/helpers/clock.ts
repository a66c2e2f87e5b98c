import pg from 'pg';
import type { TestDatabase } from './db.ts';

/**
 * Waits for the next whole second. Tokens carry their issue time in whole seconds, and ending
 * sessions refuses tokens issued in an earlier second: a test that ends sessions right after
 * issuing a token starts a fresh second first.
 */
export const nextSecond = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));

/**
 * Time passes for one account's rows of `table`: every timestamptz column of them moves `interval`
 * into the past, as if written that long ago. The database's now() cannot be held still, but the
 * times it is compared with can be moved, to the second, to either side of an expiry.
 */
export async function ageAccountRows(db: TestDatabase, table: string, accountId: string, interval: string): Promise<void> {
  const { rows } = await db.admin.query<{ column: string }>(
    `select attname::text as column from pg_attribute
     where attrelid = $1::regclass and atttypid = 'timestamptz'::regtype and attnum > 0 and not attisdropped order by attnum`,
    [table],
  );
  if (rows.length === 0) throw new Error(`${table} has no timestamptz column to move`);
  const moves = rows.map(({ column }) => `${pg.escapeIdentifier(column)} = ${pg.escapeIdentifier(column)} - $1::interval`);
  await db.admin.query(`update ${table} set ${moves.join(', ')} where account_id = $2`, [interval, accountId]);
}
