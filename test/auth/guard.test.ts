// The clinic guard as a plain function, without Fastify: what the GraphQL endpoint and anything
// else that takes a bearer token will call. Real tokens (signed with the test key, some by hand),
// a real database behind the blocked-access facts and the support-access check, and every
// expectation written out: the status, code, detail and headers the API would answer.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { createAccessTokens } from '../../src/auth/access-tokens.ts';
import { BlockedAccess } from '../../src/auth/blocked-access.ts';
import { createGuard, requirePermission } from '../../src/auth/guard.ts';
import { generateSigningKey, signingKeys } from '../../src/auth/keys.ts';
import type { ContextRunner } from '../../src/db/contexts.ts';
import { withContext } from '../../src/db/tenant.ts';
import { AppError } from '../../src/errors.ts';
import { TEST_KEYS } from '../helpers/app.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createOperator, createPerson } from '../helpers/people.ts';
import { signWithTestKey } from '../helpers/tokens.ts';

const PASSWORD = 'a long and correct password';
const CALL = { requestId: 'guard-test-1', clientIp: '192.0.2.7' };

const UNAUTHENTICATED = { status: 401, code: 'UNAUTHENTICATED', detail: 'A valid access token is required.', headers: { 'www-authenticate': 'Bearer' } };

/** What the guard threw, as the API would answer it; 'accepted' when it threw nothing. */
async function outcome(attempt: () => unknown): Promise<'accepted' | { status: number; code: string; detail: string; headers: Record<string, string> }> {
  try {
    await attempt();
    return 'accepted';
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return { status: error.status, code: error.code, detail: error.message, headers: error.headers };
  }
}

async function setUp(t: Test) {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const adminId = await createPerson(db, 'admin@example.test', PASSWORD, [[clinics.a, 'clinic_admin']]);
  const nurseId = await createPerson(db, 'nurse@example.test', PASSWORD, [[clinics.a, 'nurse']]);
  const operatorId = await createOperator(db, 'ops@example.test', PASSWORD);
  const withPlatform: ContextRunner = (ctx, fn) => withContext(db.pool, 'app_platform', ctx, fn);
  const tokens = createAccessTokens(TEST_KEYS, { ttlSeconds: 300 });
  const blockedAccess = new BlockedAccess(withPlatform);
  await blockedAccess.refresh();
  const guard = createGuard({ tokens, blockedAccess, withPlatform });
  const nurseClaims = { sub: nurseId, clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'nurse' as const, jti: randomUUID(), amr: ['pwd' as const] };
  return { db, clinics, adminId, nurseId, operatorId, tokens, blockedAccess, guard, nurseClaims };
}

t.test('a valid clinic token gives its clinic context, with or without a slug', async (t) => {
  const { clinics, nurseId, tokens, guard, nurseClaims } = await setUp(t);
  const token = tokens.signAccessToken(nurseClaims);
  const expectedTenant = { clinicId: clinics.a, userId: nurseId, role: 'nurse', requestId: 'guard-test-1', clientIp: '192.0.2.7', readOnly: false };

  const viaSlug = await guard.tenantFromToken(token, { ...CALL, slug: 'clinic-a' });
  t.same(viaSlug.tenant, expectedTenant, 'the URL named the token clinic');
  t.same(viaSlug.claims, nurseClaims, 'the claims as signed');
  t.same((await guard.tenantFromToken(token, CALL)).tenant, expectedTenant, 'no slug (GraphQL): the token clinic');
  t.same(guard.accountFromToken(token, CALL).tenant, expectedTenant, 'the account routes get the same context');
});

t.test('tokens that do not verify are 401 with WWW-Authenticate: Bearer', async (t) => {
  const { tokens, guard, nurseClaims, operatorId } = await setUp(t);
  const stranger = createAccessTokens(signingKeys(generateSigningKey()), { ttlSeconds: 300 });
  const [header, payload, signature] = tokens.signAccessToken(nurseClaims).split('.') as [string, string, string];
  const raised = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), role: 'clinic_admin' })).toString('base64url');
  const refused: Record<string, string> = {
    'the platform audience': signWithTestKey(nurseClaims, { audience: 'clinicbase-platform' }),
    'a platform-operator token': tokens.signPlatformToken({ accountId: operatorId, twoFactor: false }),
    'an unknown kid': stranger.signAccessToken(nurseClaims),
    'another key under the test kid': createAccessTokens(signingKeys({ ...generateSigningKey(), keyId: TEST_KEYS.keyId }), { ttlSeconds: 300 }).signAccessToken(
      nurseClaims,
    ),
    'expired (issued an hour ago for five minutes)': signWithTestKey(nurseClaims, { now: Date.now() - 3_600_000 }),
    'a tampered payload': `${header}.${raised}.${signature}`,
    'alg none': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: TEST_KEYS.keyId })).toString('base64url')}.${payload}.`,
    'claims missing (no clinic, role or amr)': signWithTestKey({ sub: nurseClaims.sub, jti: randomUUID(), clinic_slug: 'clinic-a' }),
    'no token at all': '',
    garbage: 'not-a-token',
  };
  for (const [name, token] of Object.entries(refused)) {
    t.same(await outcome(() => guard.tenantFromToken(token, { ...CALL, slug: 'clinic-a' })), UNAUTHENTICATED, `${name}: 401`);
  }
  t.same(await outcome(() => guard.accountFromToken(refused['the platform audience']!, CALL)), UNAUTHENTICATED, 'the account routes refuse it too');
});

t.test('platform tokens open only the platform, clinic tokens never do', async (t) => {
  const { tokens, guard, nurseClaims, operatorId } = await setUp(t);
  const platformToken = tokens.signPlatformToken({ accountId: operatorId, twoFactor: true });
  const operator = guard.operatorFromToken(platformToken, CALL);
  t.same(operator.tenant, { clinicId: null, userId: operatorId, role: null, requestId: 'guard-test-1', clientIp: '192.0.2.7' });
  t.match(operator.claims, { sub: operatorId, scope: 'platform', amr: ['pwd', 'otp'] });
  t.same(await outcome(() => guard.operatorFromToken(tokens.signAccessToken(nurseClaims), CALL)), UNAUTHENTICATED, 'a clinic token on the platform: 401');
  t.same(
    await outcome(() => guard.operatorFromToken(signWithTestKey({ ...nurseClaims, sub: operatorId, scope: 'platform' }), CALL)),
    UNAUTHENTICATED,
    'operator claims under the clinic audience: 401',
  );
});

t.test("another clinic's slug is 404, exactly as a clinic that does not exist", async (t) => {
  const { tokens, guard, nurseClaims } = await setUp(t);
  const token = tokens.signAccessToken(nurseClaims);
  const notFound = { status: 404, code: 'NOT_FOUND', detail: 'Not found', headers: {} };
  t.same(await outcome(() => guard.tenantFromToken(token, { ...CALL, slug: 'clinic-b' })), notFound, 'clinic B');
  t.same(await outcome(() => guard.tenantFromToken(token, { ...CALL, slug: 'no-such-clinic' })), notFound, 'no such clinic');
});

t.test('a suspended clinic is 403 until it is reactivated', async (t) => {
  const { db, clinics, tokens, blockedAccess, guard, nurseClaims } = await setUp(t);
  const token = tokens.signAccessToken(nurseClaims);
  await db.admin.query(`update app_public.clinics set status = 'suspended' where id = $1`, [clinics.a]);
  t.equal(await outcome(() => guard.tenantFromToken(token, CALL)), 'accepted', 'not yet refreshed: the facts are this process memory');
  await blockedAccess.refresh();
  t.same(await outcome(() => guard.tenantFromToken(token, { ...CALL, slug: 'clinic-a' })), {
    status: 403,
    code: 'FORBIDDEN',
    detail: 'This clinic is suspended.',
    headers: {},
  });
  t.same(
    await outcome(() => guard.tenantFromToken(token, CALL)),
    { status: 403, code: 'FORBIDDEN', detail: 'This clinic is suspended.', headers: {} },
    'without a slug too',
  );
  await db.admin.query(`update app_public.clinics set status = 'active' where id = $1`, [clinics.a]);
  await blockedAccess.refresh();
  t.equal(await outcome(() => guard.tenantFromToken(token, CALL)), 'accepted', 'reactivated');
});

t.test('a deactivated membership is 401', async (t) => {
  const { db, clinics, nurseId, tokens, blockedAccess, guard, nurseClaims } = await setUp(t);
  const token = tokens.signAccessToken(nurseClaims);
  await db.admin.query(`update app_public.clinic_members set status = 'deactivated' where clinic_id = $1 and account_id = $2`, [clinics.a, nurseId]);
  await blockedAccess.refresh();
  t.same(await outcome(() => guard.tenantFromToken(token, { ...CALL, slug: 'clinic-a' })), UNAUTHENTICATED);
  t.same(await outcome(() => guard.tenantFromToken(token, CALL)), UNAUTHENTICATED, 'without a slug too');
});

t.test("a token whose role is not the membership's current role is 401; one with the new role passes", async (t) => {
  const { db, clinics, nurseId, tokens, blockedAccess, guard, nurseClaims } = await setUp(t);
  const token = tokens.signAccessToken(nurseClaims);
  await db.admin.query(`update app_public.clinic_members set role = 'doctor' where clinic_id = $1 and account_id = $2`, [clinics.a, nurseId]);
  await blockedAccess.refresh();
  t.same(await outcome(() => guard.tenantFromToken(token, CALL)), {
    status: 401,
    code: 'UNAUTHENTICATED',
    detail: 'Your role in this clinic has changed; refresh the session or log in again.',
    headers: { 'www-authenticate': 'Bearer' },
  });
  const doctorToken = tokens.signAccessToken({ ...nurseClaims, role: 'doctor', jti: randomUUID() });
  t.match((await guard.tenantFromToken(doctorToken, CALL)).tenant, { userId: nurseId, role: 'doctor' }, 'the refreshed token acts as a doctor');
});

t.test('a token issued before its account sessions were ended is 401, one issued after passes', async (t) => {
  const { db, nurseId, operatorId, tokens, blockedAccess, guard, nurseClaims } = await setUp(t);
  const minuteAgo = Date.now() - 60_000;
  const before = signWithTestKey(nurseClaims, { now: minuteAgo });
  t.equal(await outcome(() => guard.tenantFromToken(before, CALL)), 'accepted', 'control: the old token is valid until the sessions end');
  await db.admin.query(`update app_private.accounts set sessions_ended_at = now() - interval '30 seconds' where id = any($1)`, [[nurseId, operatorId]]);
  await blockedAccess.refresh();
  t.same(await outcome(() => guard.tenantFromToken(before, CALL)), UNAUTHENTICATED, 'the clinic routes');
  t.same(await outcome(() => guard.accountFromToken(before, CALL)), UNAUTHENTICATED, 'the account routes');
  t.equal(await outcome(() => guard.tenantFromToken(tokens.signAccessToken(nurseClaims), CALL)), 'accepted', 'a token issued now');
  const operatorBefore = signWithTestKey(
    { sub: operatorId, scope: 'platform', jti: randomUUID(), amr: ['pwd'] },
    { now: minuteAgo, audience: 'clinicbase-platform' },
  );
  t.same(await outcome(() => guard.operatorFromToken(operatorBefore, CALL)), UNAUTHENTICATED, 'an operator token issued before');
});

t.test('a support token: read-only, its grant checked and audited on every use, refused once revoked', async (t) => {
  const { db, clinics, adminId, operatorId, tokens, guard } = await setUp(t);
  const { rows } = await db.admin.query<{ id: string }>(
    `insert into app_public.support_access_grants (clinic_id, operator_account_id, granted_by, reason, expires_at)
     values ($1, $2, $3, 'Ticket 4711', now() + interval '1 hour') returning id`,
    [clinics.a, operatorId, adminId],
  );
  const grantId = rows[0]!.id;
  const support = tokens.signAccessToken(
    { sub: operatorId, clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'clinic_admin', jti: randomUUID(), amr: ['pwd'], support_grant: grantId },
    120,
  );
  const uses = async () =>
    (
      await db.admin.query(
        `select action, clinic_id, actor_user_id, request_id, details from app_audit.audit_log where action = 'support.access.used' order by id`,
      )
    ).rows;

  const { tenant } = await guard.tenantFromToken(support, { ...CALL, slug: 'clinic-a', details: { operation: 'departments' } });
  t.same(tenant, { clinicId: clinics.a, userId: operatorId, role: 'clinic_admin', requestId: 'guard-test-1', clientIp: '192.0.2.7', readOnly: true });
  t.same(
    await uses(),
    [
      {
        action: 'support.access.used',
        clinic_id: clinics.a,
        actor_user_id: operatorId,
        request_id: 'guard-test-1',
        details: { grant: grantId, operation: 'departments' },
      },
    ],
    'the use is audited with what the caller said it was',
  );
  t.same(await outcome(() => guard.accountFromToken(support, CALL)), UNAUTHENTICATED, 'no account routes: it is not a membership');
  t.equal((await uses()).length, 1, 'and that refusal is not a use');
  t.same(await outcome(() => guard.tenantFromToken(support, { ...CALL, slug: 'clinic-b' })), {
    status: 404,
    code: 'NOT_FOUND',
    detail: 'Not found',
    headers: {},
  });
  t.equal((await uses()).length, 1, 'another clinic stops at the slug, before any use');

  // The admin revokes it as the API would (the trigger stamps who and when).
  await withContext(db.pool, 'app_user', { clinicId: clinics.a, userId: adminId, role: 'clinic_admin' }, (tx) =>
    sql`update app_public.support_access_grants set revoked_at = now() where id = ${grantId}`.execute(tx),
  );
  t.same(
    await outcome(() => guard.tenantFromToken(support, CALL)),
    { status: 401, code: 'UNAUTHENTICATED', detail: 'This support access has ended.', headers: {} },
    'revocation ends it at the next use, no refresh needed',
  );
  t.equal((await uses()).length, 1, 'a refused use is not audited as a use');
});

t.test('the matrix check: the role may perform the action, and a read-only context only selects', async (t) => {
  const tenant = { clinicId: randomUUID(), userId: randomUUID(), role: 'nurse' as const };
  t.equal(await outcome(() => requirePermission(tenant, 'app_public.departments', 'select')), 'accepted');
  t.same(await outcome(() => requirePermission(tenant, 'app_public.departments', 'insert')), {
    status: 403,
    code: 'FORBIDDEN',
    detail: 'This action is not allowed',
    headers: {},
  });
  const support = { ...tenant, role: 'clinic_admin' as const, readOnly: true };
  t.equal(await outcome(() => requirePermission(support, 'app_public.support_access_grants', 'select')), 'accepted');
  t.same(await outcome(() => requirePermission(support, 'app_public.departments', 'insert')), {
    status: 403,
    code: 'FORBIDDEN',
    detail: 'Support access is read-only.',
    headers: {},
  });
});

t.test('a token accepted before, and so remembered as verified, is refused once anything ends it', async (t) => {
  const { db, clinics, nurseId, tokens, blockedAccess, guard, nurseClaims } = await setUp(t);
  const labId = await createPerson(db, 'lab@example.test', PASSWORD, [[clinics.a, 'lab_technician']]);
  const acceptedTwice = async (token: string, name: string) => {
    for (const time of ['first', 'second']) t.equal(await outcome(() => guard.tenantFromToken(token, CALL)), 'accepted', `${name}: accepted the ${time} time`);
  };

  const [header, payload, signature] = tokens.signAccessToken(nurseClaims).split('.') as [string, string, string];
  await acceptedTwice(`${header}.${payload}.${signature}`, 'a good token');
  const forged = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
  t.same(await outcome(() => guard.tenantFromToken(forged, CALL)), UNAUTHENTICATED, 'the same claims with another signature: 401');

  // Its `exp` is the next whole second: the token expires within a second of the test's clock.
  const expiresAt = Math.floor(Date.now() / 1000) + 1;
  const shortLived = signWithTestKey({ ...nurseClaims, jti: randomUUID() }, { now: expiresAt * 1000 - 300_000 });
  await acceptedTwice(shortLived, 'a token about to expire');
  await new Promise((resolve) => setTimeout(resolve, expiresAt * 1000 + 20 - Date.now()));
  t.same(await outcome(() => guard.tenantFromToken(shortLived, CALL)), UNAUTHENTICATED, 'once its exp has passed: 401');

  const labToken = tokens.signAccessToken({ ...nurseClaims, sub: labId, role: 'lab_technician', jti: randomUUID() });
  await acceptedTwice(labToken, 'a lab technician');
  await db.admin.query(`update app_public.clinic_members set status = 'deactivated' where account_id = $1`, [labId]);
  await blockedAccess.refresh();
  t.same(await outcome(() => guard.tenantFromToken(labToken, CALL)), UNAUTHENTICATED, 'deactivated: 401');

  const nurseToken = signWithTestKey({ ...nurseClaims, jti: randomUUID() }, { now: Date.now() - 60_000 });
  await acceptedTwice(nurseToken, 'a nurse');
  await db.admin.query(`update app_private.accounts set sessions_ended_at = now() - interval '30 seconds' where id = $1`, [nurseId]);
  await blockedAccess.refresh();
  t.same(await outcome(() => guard.tenantFromToken(nurseToken, CALL)), UNAUTHENTICATED, 'sessions ended: 401');

  const current = tokens.signAccessToken({ ...nurseClaims, jti: randomUUID() });
  await acceptedTwice(current, 'a nurse token issued after');
  await db.admin.query(`update app_public.clinic_members set role = 'receptionist' where account_id = $1`, [nurseId]);
  await blockedAccess.refresh();
  t.match(
    await outcome(() => guard.tenantFromToken(current, CALL)),
    { status: 401, detail: 'Your role in this clinic has changed; refresh the session or log in again.' },
    'role changed: 401',
  );

  const receptionist = tokens.signAccessToken({ ...nurseClaims, role: 'receptionist', jti: randomUUID() });
  await acceptedTwice(receptionist, 'the new role');
  await db.admin.query(`update app_public.clinics set status = 'suspended' where id = $1`, [clinics.a]);
  await blockedAccess.refresh();
  t.same(
    await outcome(() => guard.tenantFromToken(receptionist, CALL)),
    { status: 403, code: 'FORBIDDEN', detail: 'This clinic is suspended.', headers: {} },
    'suspended: 403',
  );
});
