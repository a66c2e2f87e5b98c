// Access tokens: only EdDSA tokens signed by a listed key, unexpired, for the URL's clinic, get
// in; everything else is 401, and another clinic's slug is 404 like a slug that does not exist.
// Clinic and platform tokens have audiences of their own: neither opens the other's routes.
import { createPrivateKey, randomUUID } from 'node:crypto';
import t from 'tap';
import { generateSigningKey, signingKeys } from '../../src/auth/keys.ts';
import type { AccessClaims } from '../../src/plugins/auth.ts';
import { buildTestApp, TEST_KEYS } from '../helpers/app.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { createOperator } from '../helpers/people.ts';
import { signWithTestKey } from '../helpers/tokens.ts';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

t.test('access tokens and the clinic guard', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const claims: AccessClaims = { sub: randomUUID(), clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'nurse', jti: randomUUID(), amr: ['pwd'] };
  const get = (url: string, token?: string) => app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const list = '/api/v1/clinics/clinic-a/departments';
  const good = await app.signAccessToken(claims);

  t.equal((await get(list, good)).statusCode, 200, 'a valid token for the clinic gets in');

  const missing = await get(list);
  t.equal(missing.statusCode, 401);
  t.match(missing.json(), { code: 'UNAUTHENTICATED' });
  t.equal(missing.headers['www-authenticate'], 'Bearer');

  const [header, payload, signature] = good.split('.') as [string, string, string];
  const refused: Record<string, string> = {
    'alg: none': `${b64({ alg: 'none', typ: 'JWT', kid: TEST_KEYS.keyId })}.${payload}.`,
    'tampered payload (role raised)': `${header}.${b64({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), role: 'clinic_admin' })}.${signature}`,
    'signed by another key under the same kid': await (async () => {
      const other = await buildTestApp(t, db.authenticatorUrl, signingKeys({ ...generateSigningKey(), keyId: TEST_KEYS.keyId }));
      return other.app.signAccessToken(claims);
    })(),
    'signed by an unknown kid': await (await buildTestApp(t, db.authenticatorUrl, signingKeys(generateSigningKey()))).app.signAccessToken(claims),
    'HS256 with the public key as secret': await (async () => {
      const { createSigner } = await import('fast-jwt');
      const publicPem = TEST_KEYS.publicKeys.get(TEST_KEYS.keyId)!;
      return createSigner({ key: publicPem, algorithm: 'HS256', kid: TEST_KEYS.keyId, iss: 'clinicbase', aud: 'clinicbase-api', expiresIn: 60_000 })({
        ...claims,
      });
    })(),
    expired: signWithTestKey(claims, { now: Date.now() - 3_600_000 }),
    'missing claims': signWithTestKey({ sub: claims.sub, jti: randomUUID(), clinic_slug: 'clinic-a' }),
    garbage: 'not-a-token',
  };
  for (const [name, token] of Object.entries(refused)) {
    const response = await get(list, token);
    t.equal(response.statusCode, 401, `${name}: 401`);
    t.match(response.json(), { code: 'UNAUTHENTICATED' }, `${name}: problem+json`);
  }

  const otherClinic = await get('/api/v1/clinics/clinic-b/departments', good);
  const noClinic = await get('/api/v1/clinics/no-such-clinic/departments', good);
  t.equal(otherClinic.statusCode, 404, "another clinic's slug is 404");
  const { requestId: _a, ...otherBody } = otherClinic.json();
  const { requestId: _b, ...noBody } = noClinic.json();
  t.same(otherBody, noBody, 'indistinguishable from a clinic that does not exist');
  t.ok(createPrivateKey(TEST_KEYS.privateKeyPem).asymmetricKeyType === 'ed25519', 'keys are Ed25519');
});

t.test('key rotation keeps earlier tokens valid while their key is listed', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const claims: AccessClaims = { sub: randomUUID(), clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'doctor', jti: randomUUID(), amr: ['pwd'] };
  const old = generateSigningKey();
  const before = await buildTestApp(t, db.authenticatorUrl, signingKeys(old));
  const issuedBefore = await before.app.signAccessToken(claims);
  const oldPublic = signingKeys(old).publicKeys.get(old.keyId)!;

  const current = generateSigningKey();
  const rotated = await buildTestApp(t, db.authenticatorUrl, signingKeys(current, { [old.keyId]: oldPublic }));
  const url = '/api/v1/clinics/clinic-a/departments';
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  t.equal((await rotated.app.inject({ url, headers: auth(issuedBefore) })).statusCode, 200, 'a token of the previous key still verifies');
  t.equal((await rotated.app.inject({ url, headers: auth(await rotated.app.signAccessToken(claims)) })).statusCode, 200, 'new tokens use the new key');
  const jwks = (await rotated.app.inject({ url: '/.well-known/jwks.json' })).json();
  t.same(
    jwks.keys.map((k: { kid: string; alg: string; kty: string }) => [k.kid, k.alg, k.kty]).sort(),
    [old.keyId, current.keyId].map((kid) => [kid, 'EdDSA', 'OKP']).sort(),
    'the JWKS lists both public keys',
  );

  const retired = await buildTestApp(t, db.authenticatorUrl, signingKeys(generateSigningKey()));
  t.equal((await retired.app.inject({ url, headers: auth(issuedBefore) })).statusCode, 401, 'once the old key is dropped, its tokens are refused');
});

t.test('a token of the other audience, or of none, opens neither kind of route', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const operatorId = await createOperator(db, 'operator@example.test', 'an operator passphrase');
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const { createSigner } = await import('fast-jwt');
  // Signed with the app's own key and kid, so only the audience differs from a good token.
  const sign = (audience: string | null, claims: Record<string, unknown>, issuer: string | null = 'clinicbase') =>
    createSigner({
      key: TEST_KEYS.privateKeyPem,
      algorithm: 'EdDSA',
      kid: TEST_KEYS.keyId,
      expiresIn: 60_000,
      ...(audience === null ? {} : { aud: audience }),
      ...(issuer === null ? {} : { iss: issuer }),
    })(claims);
  const clinicClaims = { sub: randomUUID(), clinic_id: clinics.a, clinic_slug: 'clinic-a', role: 'clinic_admin', jti: randomUUID(), amr: ['pwd'] };
  const operatorClaims = { sub: operatorId, scope: 'platform', jti: randomUUID(), amr: ['pwd'] };
  const get = async (url: string, token: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  const clinicRoute = '/api/v1/clinics/clinic-a/departments';
  const platformRoute = '/api/v1/platform/clinics';

  t.equal((await get(clinicRoute, sign('clinicbase-api', clinicClaims))).statusCode, 200, 'control: clinic claims for the clinic audience get in');
  t.equal((await get(platformRoute, sign('clinicbase-platform', operatorClaims))).statusCode, 200, 'control: operator claims for the platform audience get in');

  const refused: [string, string, string][] = [
    ['clinic claims, platform audience, on a clinic route', clinicRoute, sign('clinicbase-platform', clinicClaims)],
    ['clinic claims, no audience, on a clinic route', clinicRoute, sign(null, clinicClaims)],
    ['clinic claims, no issuer, on a clinic route', clinicRoute, sign('clinicbase-api', clinicClaims, null)],
    ['clinic and operator claims, platform audience, on a clinic route', clinicRoute, sign('clinicbase-platform', { ...clinicClaims, scope: 'platform' })],
    ['operator claims, clinic audience, on a platform route', platformRoute, sign('clinicbase-api', operatorClaims)],
    ['operator claims, no audience, on a platform route', platformRoute, sign(null, operatorClaims)],
    ['operator claims, no issuer, on a platform route', platformRoute, sign('clinicbase-platform', operatorClaims, null)],
    [
      'a clinic token with operator claims, on a platform route',
      platformRoute,
      sign('clinicbase-api', { ...clinicClaims, sub: operatorId, scope: 'platform' }),
    ],
    [
      'a token the app signed for a clinic, on a platform route',
      platformRoute,
      await app.signAccessToken({ ...clinicClaims, sub: operatorId } as AccessClaims),
    ],
  ];
  for (const [name, url, token] of refused) {
    const response = await get(url, token);
    t.equal(response.statusCode, 401, `${name}: 401`);
    t.match(response.json(), { code: 'UNAUTHENTICATED' }, `${name}: problem+json`);
    t.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8', `${name}: problem+json`);
  }
});
