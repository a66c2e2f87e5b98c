// Calls of SQL functions that answer true or false (the verb_noun functions of app_hidden).
// Which helper a call takes matters for its round trips: see withContext in tenant.ts.
import { sql, type RawBuilder } from 'kysely';
import type { TenantDb } from './tenant.ts';

/**
 * A function that writes, called as raw SQL: withContext sends it straight into a transaction
 * instead of trying it as a read-only SELECT first (which would fail with 25006 and cost a round trip).
 */
export async function writeIsTrue(db: TenantDb, call: RawBuilder<unknown>): Promise<boolean> {
  const { rows } = await sql<{ result: boolean }>`select ${call} as result`.execute(db);
  return rows[0]?.result === true;
}

/** A function that only reads: a builder SELECT, one read-only round trip before any write. */
export async function readIsTrue(db: TenantDb, call: RawBuilder<unknown>): Promise<boolean> {
  const row = await db.selectNoFrom(sql<boolean>`${call}`.as('result')).executeTakeFirst();
  return row?.result === true;
}
