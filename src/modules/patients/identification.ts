// Identification numbers: encrypted before they reach Postgres, with a keyed look-up hash beside
// them (src/crypto), shown whole to the front desk's roles and masked to everyone else. The number
// is stored normalised (letters and digits, upper case: what the look-up hash covers), so a
// number reads back, and masks, the same however it was typed.
import type { ClinicRole } from '../../auth/permissions.ts';
import { type FieldCipher, mask, normaliseIdentifier } from '../../crypto/field-encryption.ts';

/** The field name bound into every ciphertext and hash: changing it makes stored values unreadable. */
export const IDENTIFICATION_FIELD = 'patients.identification_number';

/** Who sees identification numbers whole (they register and correct them); everyone else gets the mask. */
const SEES_WHOLE: readonly ClinicRole[] = ['clinic_admin', 'receptionist'];

/**
 * Whether the caller sees numbers whole: a clinic admin or receptionist of the clinic, not a platform
 * operator reading as clinic admin under a support grant (support needs to see that a number is
 * there, not what it is).
 */
export function seesWholeNumbers(role: ClinicRole | null, underSupportGrant: boolean): boolean {
  return role !== null && SEES_WHOLE.includes(role) && !underSupportGrant;
}

export interface SealedIdentification {
  identificationNumberCiphertext: string;
  identificationNumberHmac: string;
}

export function sealIdentification(cipher: FieldCipher, clinicId: string, number: string): SealedIdentification {
  const context = { clinicId, field: IDENTIFICATION_FIELD };
  const normalised = normaliseIdentifier(number);
  return { identificationNumberCiphertext: cipher.encrypt(normalised, context), identificationNumberHmac: cipher.lookupHash(normalised, context) };
}

/** The stored hashes a number may have: under every configured key (during a rotation, rows under the old key are found too). */
export function identificationHashes(cipher: FieldCipher, clinicId: string, number: string): string[] {
  return cipher.lookupHashes(number, { clinicId, field: IDENTIFICATION_FIELD });
}

/**
 * The number whole, or masked. A ciphertext that does not decrypt throws FieldDecryptionError: a
 * server fault (a key missing from DATA_ENCRYPTION_KEY, or an altered row), answered 500.
 */
export function revealIdentification(cipher: FieldCipher, clinicId: string, ciphertext: string | null, whole: boolean): string | null {
  if (ciphertext === null) return null;
  const number = cipher.decrypt(ciphertext, { clinicId, field: IDENTIFICATION_FIELD });
  return whole ? number : mask(number);
}
