// One valid row per tenant table, as the columns a client may write (never clinic_id or id).
// The catalog sweep refuses to pass while a tenant table has no entry here: adding a table
// means adding its fixture, and with it the isolation tests for that table.
export interface FixtureRefs {
  /** The id of that tenant table's fixture row in the clinic being filled. */
  idOf(table: string): string;
  /** A login account no fixture row of this clinic uses yet. */
  freshAccount(): string;
  /** A platform operator's account. */
  operator(): string;
}

export type Fixture = (refs: FixtureRefs) => Record<string, unknown>;

let counter = 0;
const unique = (prefix: string) => `${prefix}${++counter}`;

export const FIXTURES: Record<string, Fixture> = {
  'app_public.departments': () => ({ code: unique('D'), name: unique('Department '), description: 'fixture' }),
  // One row per clinic; updates only, through the API (onboarding inserts it).
  'app_public.clinic_settings': () => ({ currency: 'EUR', session_idle_minutes: 30 }),
  'app_public.clinic_members': ({ freshAccount }) => ({
    account_id: freshAccount(),
    role: 'doctor',
    display_name: unique('Dr Fixture '),
    licence_number: unique('LIC-'),
  }),
  'app_public.support_access_grants': ({ operator }) => ({
    operator_account_id: operator(),
    reason: 'fixture',
    expires_at: new Date(Date.now() + 3_600_000),
  }),
};

/** Tenant tables no app role may touch: the database writes them (triggers, SECURITY DEFINER functions). */
export const WRITTEN_BY_DATABASE = new Set(['app_audit.audit_log', 'app_private.refresh_tokens', 'app_private.invitations']);

/** Login accounts the fixtures draw on, created once per test database. */
export const FIXTURE_ACCOUNTS = 200;
