// One valid row per tenant table, as the columns a client may write (never clinic_id or id).
// The catalog sweep refuses to pass while a tenant table has no entry here: adding a table
// means adding its fixture, and with it the isolation tests for that table.
//
// `idOf(table)` returns the id of that table's fixture row in the clinic being filled, for
// references between tenant tables.
export type Fixture = (idOf: (table: string) => string) => Record<string, unknown>;

let counter = 0;
const unique = (prefix: string) => `${prefix}${++counter}`;

export const FIXTURES: Record<string, Fixture> = {
  'app_public.departments': () => ({ code: unique('D'), name: unique('Department '), description: 'fixture' }),
};

/** Tables whose rows only the database itself writes (app roles hold no write grant). */
export const WRITTEN_BY_DATABASE = new Set(['app_audit.audit_log']);
