// Credential fields that more than one module's bodies take (clinic logins, operator logins, the
// second factor's management).
import { plainText } from './text.ts';

/** A one-time code as typed: six digits from the authenticator app, or a recovery code. */
export const oneTimeCode = plainText.trim().min(6).max(32);
