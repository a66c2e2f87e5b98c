import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import { buildApp, type AppConfig, type BuildOptions } from '../../src/app.ts';
import { generateSigningKey, signingKeys, type SigningKeys } from '../../src/auth/keys.ts';
import { generateDataKey } from '../../src/crypto/data-keys.ts';
import { createFieldCipher, type FieldCipher } from '../../src/crypto/field-encryption.ts';
import { checkResponsesAgainstDocument } from './contract.ts';
import { temporaryStorageDir } from './storage.ts';

/** The real app on a test database, not listening; `logs()` returns every JSON log line so far. */
/** One signing key for the whole test process (generating keys is cheap, but tokens must verify). */
export const TEST_KEYS: SigningKeys = signingKeys(generateSigningKey());
/** One data encryption key for the whole test process, as DATA_ENCRYPTION_KEY would give it. */
export const TEST_FIELD_CIPHER: FieldCipher = createFieldCipher([generateDataKey()]);

/**
 * The HTTP surface other than the test defaults (env `test`: docs on, CORS off, limits in memory,
 * uploaded files in a temporary folder of the test's own, TEST_FIELD_CIPHER).
 */
export interface TestAppOptions
  extends Partial<Pick<AppConfig, 'env' | 'redisUrl' | 'corsOrigins' | 'apiDocs' | 'storageDir' | 'fileMaxBytes' | 'fieldCipher' | 'graphql'>> {
  rateLimitNameSpace?: string;
  /** An in-process worker's figures for GET /health/worker. */
  workerFigures?: BuildOptions['workerFigures'];
}

export async function buildTestApp(
  t: Test,
  authenticatorUrl: string,
  keys: SigningKeys = TEST_KEYS,
  loginAttemptsPerMinute = 1000,
  /** Pool size and transaction settings other than the test default (a pool of 2, default settings). */
  database: Partial<Omit<AppConfig['database'], 'authenticatorUrl'>> = {},
  { rateLimitNameSpace, workerFigures, ...surface }: TestAppOptions = {},
): Promise<{ app: FastifyInstance; logs: () => Record<string, unknown>[]; storageDir: string }> {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const storageDir = surface.storageDir ?? (await temporaryStorageDir(t));
  const app = await buildApp(
    {
      env: 'test',
      logLevel: 'info',
      storageDir,
      database: { authenticatorUrl, poolSize: 2, ...database },
      auth: { keys, accessTokenTtlSeconds: 300, loginAttemptsPerMinute },
      fieldCipher: TEST_FIELD_CIPHER,
      ...surface,
    },
    { logStream: stream, rateLimitNameSpace, workerFigures },
  );
  t.teardown(() => app.close());
  // Every response the test receives through app.inject must be one the app's OpenAPI document
  // declares (status, content type, body): a mismatch fails the test that met it (helpers/contract.ts).
  checkResponsesAgainstDocument(app, (mismatch) => t.fail(`the response breaks the OpenAPI document: ${mismatch}`));
  return { app, logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>), storageDir };
}
