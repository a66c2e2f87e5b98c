// Key rotation's last step (docs/operations.md, "Rotating the data encryption key"): every
// identification number not under the current key is decrypted under its own key, encrypted under
// the current one and its look-up hash replaced. Run by `npm run cli -- data-key:reencrypt` as the
// database owner (whose policies on patients are `true`: the clinic is filtered here), clinic by
// clinic, in batches of one statement each, so it can be interrupted and run again. A row changed
// meanwhile (a receptionist's correction) is left alone: its new value is the current key's already.
import type { FieldCipher } from '../../crypto/field-encryption.ts';
import type { Client } from '../../db/pool.ts';
import { IDENTIFICATION_FIELD } from './identification.ts';

export interface ReencryptionReport {
  clinics: number;
  reencrypted: number;
}

/** Re-encrypts as `owner` (an app_owner connection), telling `progress` after each batch. */
export async function reencryptIdentificationNumbers(
  owner: Client,
  cipher: FieldCipher,
  progress: (line: string) => void,
  batchSize = 500,
): Promise<ReencryptionReport> {
  const { rows: clinics } = await owner.query<{ id: string; slug: string }>('select id, slug from app_public.clinics order by slug');
  const report: ReencryptionReport = { clinics: 0, reencrypted: 0 };
  for (const clinic of clinics) {
    let after = '00000000-0000-0000-0000-000000000000';
    let done = 0;
    for (;;) {
      const { rows } = await owner.query<{ id: string; ciphertext: string }>(
        `select id, identification_number_ciphertext as ciphertext from app_public.patients
         where clinic_id = $1 and id > $2 and identification_number_ciphertext is not null
           and (split_part(identification_number_ciphertext, '.', 2) <> $3 or split_part(identification_number_hmac, ':', 1) <> $3)
         order by id limit $4`,
        [clinic.id, after, cipher.currentKeyId, batchSize],
      );
      if (rows.length === 0) break;
      const fresh = rows.map((row) => cipher.reencrypt(row.ciphertext, { clinicId: clinic.id, field: IDENTIFICATION_FIELD }));
      const { rowCount } = await owner.query(
        `update app_public.patients p
         set identification_number_ciphertext = n.ciphertext, identification_number_hmac = n.hmac
         from unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) as n (id, old, ciphertext, hmac)
         where p.clinic_id = $1 and p.id = n.id and p.identification_number_ciphertext = n.old`,
        [clinic.id, rows.map((row) => row.id), rows.map((row) => row.ciphertext), fresh.map((f) => f.ciphertext), fresh.map((f) => f.lookupHash)],
      );
      done += rowCount ?? 0;
      after = rows.at(-1)!.id;
      progress(`${clinic.slug}: ${done} re-encrypted`);
    }
    if (done > 0) report.clinics++;
    report.reencrypted += done;
  }
  progress(`done: ${report.reencrypted} identification numbers re-encrypted under key ${cipher.currentKeyId} in ${report.clinics} clinics`);
  return report;
}
