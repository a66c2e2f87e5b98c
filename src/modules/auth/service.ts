// Login, refresh, logout and clinic switch. Every refusal looks the same from outside: an
// unknown e-mail, a wrong password and a clinic the person does not belong to are one 401.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { verifyPassword } from '../../auth/passwords.ts';
import { newRefreshToken, hashRefreshToken, SESSION } from '../../auth/refresh-tokens.ts';
import type { ClinicRole, TenantContext } from '../../db/tenant.ts';
import { AppError } from '../../errors.ts';
import { accountClinics, findAccount, revokeRefreshFamily, storeRefreshToken, useRefreshToken } from './queries.ts';
import type { Membership, Session } from './schemas.ts';

const anonymous = (requestId: string): TenantContext => ({ clinicId: null, userId: null, role: null, requestId });

const invalidCredentials = () => new AppError('UNAUTHENTICATED', 'The e-mail, password or clinic is not right.');
const invalidRefreshToken = () => new AppError('UNAUTHENTICATED', 'The refresh token is not valid; log in again.');

export class AuthService {
  readonly #app: FastifyInstance;
  readonly #accessTokenTtlSeconds: number;

  constructor(app: FastifyInstance, accessTokenTtlSeconds: number) {
    this.#app = app;
    this.#accessTokenTtlSeconds = accessTokenTtlSeconds;
  }

  async login(input: { email: string; password: string; clinicSlug?: string | undefined }, requestId: string): Promise<Session | { clinics: Pick<Membership, 'clinicSlug' | 'clinicName' | 'role'>[] }> {
    const account = await this.#app.withTenant(anonymous(requestId), (db) => findAccount(db, input.email));
    if (!(await verifyPassword(account?.passwordHash, input.password)) || !account) throw invalidCredentials();
    const clinics = await this.#app.withTenant(anonymous(requestId), (db) => accountClinics(db, account.accountId));
    if (input.clinicSlug === undefined) {
      return { clinics: clinics.map(({ clinicSlug, clinicName, role }) => ({ clinicSlug, clinicName, role })) };
    }
    const membership = clinics.find((m) => m.clinicSlug === input.clinicSlug);
    if (!membership) throw invalidCredentials();
    return this.#startSession(account.accountId, membership, requestId);
  }

  /** Rotates the refresh token; a reused one has revoked its whole family by the time this throws. */
  async refresh(refreshToken: string, requestId: string): Promise<Session> {
    const successor = newRefreshToken();
    const used = await this.#app.withTenant(anonymous(requestId), async (db) => {
      const found = await useRefreshToken(db, hashRefreshToken(refreshToken));
      if (found && !found.reused && found.clinicSlug) {
        await storeRefreshToken(db, { hash: successor.hash, accountId: found.accountId, clinicId: found.clinicId, familyId: found.familyId, ...SESSION });
      }
      return found;
    });
    if (!used || used.reused || !used.clinicSlug || !used.role) throw invalidRefreshToken();
    const membership = (await this.memberships(used.accountId, requestId)).find((m) => m.clinicId === used.clinicId);
    if (!membership) throw invalidRefreshToken();
    return this.#session(used.accountId, membership, successor.token);
  }

  async logout(refreshToken: string, requestId: string): Promise<void> {
    await this.#app.withTenant(anonymous(requestId), (db) => revokeRefreshFamily(db, hashRefreshToken(refreshToken)));
  }

  /** A new session in another clinic of the same person (the token proves who they are). */
  async switchClinic(accountId: string, clinicSlug: string, requestId: string): Promise<Session> {
    const membership = (await this.memberships(accountId, requestId)).find((m) => m.clinicSlug === clinicSlug);
    if (!membership) throw new AppError('NOT_FOUND');
    return this.#startSession(accountId, membership, requestId);
  }

  memberships(accountId: string, requestId: string): Promise<Membership[]> {
    return this.#app.withTenant(anonymous(requestId), (db) => accountClinics(db, accountId));
  }

  async #startSession(accountId: string, membership: Membership, requestId: string): Promise<Session> {
    const refresh = newRefreshToken();
    await this.#app.withTenant(anonymous(requestId), (db) =>
      storeRefreshToken(db, { hash: refresh.hash, accountId, clinicId: membership.clinicId, ...SESSION }),
    );
    return this.#session(accountId, membership, refresh.token);
  }

  async #session(accountId: string, membership: Membership, refreshToken: string): Promise<Session> {
    const accessToken = await this.#app.signAccessToken({
      sub: accountId,
      clinic_id: membership.clinicId,
      clinic_slug: membership.clinicSlug,
      role: membership.role as ClinicRole,
      jti: randomUUID(),
    });
    return { tokenType: 'Bearer', accessToken, expiresIn: this.#accessTokenTtlSeconds, refreshToken, membership };
  }
}
