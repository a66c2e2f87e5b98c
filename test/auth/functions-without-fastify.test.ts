// The auth module's functions need no Fastify instance: a job or a CLI command calls them with a
// pool of its own, a signer and a no-op cache refresh (AuthDeps). Here they run on the file's
// database alone, with the caller's request id and address reaching the audit log.
import t from 'tap';
import type { AccessClaims } from '../../src/plugins/auth.ts';
import type { ContextRunner } from '../../src/db/contexts.ts';
import { withContext } from '../../src/db/tenant.ts';
import type { AuthDeps } from '../../src/modules/auth/deps.ts';
import { requestPasswordReset, resetPassword } from '../../src/modules/auth/passwords.ts';
import type { Session } from '../../src/modules/auth/schemas.ts';
import { login, refresh } from '../../src/modules/auth/sessions.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createPerson } from '../helpers/people.ts';

const EMAIL = 'pat@example.test';
const OLD = 'the old and long password';
const NEW = 'a brand new long passphrase';
const CALLER = { requestId: 'job-42', clientIp: '192.0.2.7' };

t.test('log in, refresh and reset a password on a pool alone', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const accountId = await createPerson(db, EMAIL, OLD, [[clinics.a, 'doctor']]);
  const signed: AccessClaims[] = [];
  let refreshed = 0;
  const withTenant: ContextRunner = (ctx, fn) => withContext(db.pool, 'app_user', ctx, fn);
  const deps: AuthDeps = {
    withTenant,
    signAccessToken: async (claims) => `signed-${signed.push(claims)}`,
    refreshBlockedAccess: async () => {
      refreshed += 1;
    },
    accessTokenTtlSeconds: 600,
  };

  const session = (await login(deps, { email: EMAIL, password: OLD, clinicSlug: 'clinic-a' }, CALLER)) as Session;
  t.match(session, { tokenType: 'Bearer', accessToken: 'signed-1', expiresIn: 600, membership: { clinicSlug: 'clinic-a', role: 'doctor' } });
  t.match(signed[0], { sub: accountId, clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'doctor', amr: ['pwd'] });
  const { rows: logins } = await db.admin.query(
    `select actor_user_id, clinic_id, request_id, host(client_ip) as ip from app_audit.audit_log where action = 'auth.login.succeeded'`,
  );
  t.same(logins, [{ actor_user_id: accountId, clinic_id: clinics.a, request_id: 'job-42', ip: '192.0.2.7' }], 'the caller is on record');

  const next = await refresh(deps, session.refreshToken, CALLER);
  t.equal(next.accessToken, 'signed-2');
  t.not(next.refreshToken, session.refreshToken, 'the refresh token rotates');
  await t.rejects(refresh(deps, session.refreshToken, CALLER), { code: 'UNAUTHENTICATED' }, 'a used one is refused');
  await t.rejects(refresh(deps, next.refreshToken, CALLER), { code: 'UNAUTHENTICATED' }, 'and its reuse ended the family');

  await requestPasswordReset(deps, EMAIL, CALLER);
  const { rows: outbox } = await db.admin.query(`select payload->>'token' as token from app_private.notification_outbox where kind = 'password_reset'`);
  t.equal(outbox.length, 1);
  await resetPassword(deps, outbox[0].token, NEW, CALLER);
  t.equal(refreshed, 1, "the process's blocked-access cache is told once");
  await t.rejects(login(deps, { email: EMAIL, password: OLD, clinicSlug: 'clinic-a' }, CALLER), { code: 'UNAUTHENTICATED' });
  t.match(await login(deps, { email: EMAIL, password: NEW, clinicSlug: 'clinic-a' }, CALLER), { accessToken: 'signed-3' });
});
