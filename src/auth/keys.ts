// Access-token signing keys: Ed25519 (EdDSA). One current key signs; every key still listed
// verifies, so a rotated-out key keeps its tokens valid until they expire.
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { JwtConfig } from '../config.ts';

export interface SigningKeys {
  keyId: string;
  privateKeyPem: string;
  /** key id → PEM public key, the current key included. */
  publicKeys: ReadonlyMap<string, string>;
}

export function generateSigningKey(): { keyId: string; privateKeyPem: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    keyId: `${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

export function signingKeys(current: { keyId: string; privateKeyPem: string }, previous: Record<string, string> = {}): SigningKeys {
  const publicPem = createPublicKey(current.privateKeyPem).export({ format: 'pem', type: 'spki' }).toString();
  return { ...current, publicKeys: new Map([...Object.entries(previous), [current.keyId, publicPem]]) };
}

/** The configured key, or in development one generated once into DATA_DIR (mode 0600). */
export async function loadSigningKeys(config: JwtConfig, dataDir: string): Promise<SigningKeys> {
  if (config.signingKey) return signingKeys(config.signingKey, config.previousPublicKeys);
  const file = path.join(dataDir, 'jwt-signing-key.json');
  if (!existsSync(file)) {
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, JSON.stringify(generateSigningKey()), { mode: 0o600 });
  }
  return signingKeys(JSON.parse(await readFile(file, 'utf8')), config.previousPublicKeys);
}

/** The public keys as a JSON Web Key Set, for integrations that verify tokens themselves. */
export function jwks(keys: SigningKeys): { keys: Record<string, unknown>[] } {
  return {
    keys: [...keys.publicKeys].map(([kid, pem]) => ({ ...createPublicKey(pem).export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' })),
  };
}
