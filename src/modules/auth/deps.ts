// What the auth module's functions need from outside, and nothing more: no Fastify instance, so
// a job or a CLI command can call them with a pool of its own. index.ts builds it once from the
// app's decorators; each function takes only the fields it uses.
import type { AccessClaims } from '../../plugins/auth.ts';
import type { CredentialDeps } from '../../auth/credentials.ts';

export interface AuthDeps extends CredentialDeps {
  /** Signs an access token with the current key (app.signAccessToken). */
  signAccessToken: (claims: AccessClaims) => Promise<string>;
  /** Makes this process's guard see ended sessions at once (app.refreshBlockedAccess); a process without a guard passes a no-op. */
  refreshBlockedAccess: () => Promise<void>;
  /** The access token's lifetime, told to the client as `expiresIn`. */
  accessTokenTtlSeconds: number;
}
