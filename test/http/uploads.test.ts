// Multipart uploads over HTTP, on a scaffolding route that does what a files route will do (read
// the form with receiveUpload, commit the blob under a key the server makes) and is registered
// before the contract check, so every answer is held to the OpenAPI document like a real route's.
// The disk is read after each request: accepted files under their key with the bytes sent, refused
// ones nowhere, not even staged.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { buildApp } from '../../src/app.ts';
import { type MultipartForm, receiveUpload } from '../../src/http/multipart.ts';
import { plainText } from '../../src/http/text.ts';
import { PROBLEM_CONTENT_TYPE } from '../../src/plugins/errors.ts';
import { storageKey } from '../../src/storage/blob-storage.ts';
import { TEST_FIELD_CIPHER, TEST_KEYS } from '../helpers/app.ts';
import { checkResponsesAgainstDocument } from '../helpers/contract.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { multipart, type Part } from '../helpers/multipart.ts';
import { ACCEPTED, REFUSED } from '../helpers/sample-files.ts';
import { filesUnder, temporaryStorageDir } from '../helpers/storage.ts';
import { eventually } from '../helpers/wait.ts';

const CLINIC = '3f2c8a4e-1b7d-4c2a-9e8f-0a1b2c3d4e5f';
const PATIENT = '6b1e0c4d-2f3a-4b5c-8d7e-9f0a1b2c3d4e';
const URL = '/api/v1/test/uploads';
const MAX_BYTES = 64 * 1024;

const LARGE_URL = '/api/v1/test/large-uploads';

const form = {
  fields: z.object({ patientId: z.uuid(), category: z.enum(['registration', 'report', 'other']), note: plainText.max(200).optional() }).strict(),
  file: 'file',
  maxBytes: MAX_BYTES,
} satisfies MultipartForm;

/** The same form with a limit above the 1 MiB every multipart request gets by default. */
const largeForm = { ...form, maxBytes: 2 * 1024 * 1024 } satisfies MultipartForm;

const stored = z.strictObject({
  id: z.uuid(),
  fields: z.strictObject({ patientId: z.string(), category: z.string(), note: z.string().optional() }),
  fileName: z.string(),
  contentType: z.string(),
  sizeBytes: z.int(),
  sha256: z.string(),
});

interface Harness {
  app: FastifyInstance;
  storageDir: string;
  /** Resolves when the scaffolding route's handler next finishes, however it finishes. */
  nextHandled: () => Promise<void>;
  /** How many responses the contract check has held to the document. */
  checked: () => number;
}

async function harness(t: Test): Promise<Harness> {
  const db = await createTestDatabase(t);
  const storageDir = await temporaryStorageDir(t);
  const app = await buildApp({
    env: 'test',
    logLevel: 'silent',
    storageDir,
    database: { authenticatorUrl: db.authenticatorUrl, poolSize: 2 },
    auth: { keys: TEST_KEYS, accessTokenTtlSeconds: 300, loginAttemptsPerMinute: 1000 },
    fieldCipher: TEST_FIELD_CIPHER,
  });
  t.teardown(() => app.close());
  let handled: () => void = () => {};
  for (const [url, declared] of [
    [URL, form],
    [LARGE_URL, largeForm],
  ] as const) {
    app.withTypeProvider<ZodTypeProvider>().post(url, { schema: { multipart: declared, response: { 201: stored } } }, async (request, reply) => {
      try {
        const { fields, file, fileName } = await receiveUpload(request, app.storage, declared);
        const id = randomUUID();
        await file.commit(storageKey(CLINIC, id));
        return reply.code(201).send({ id, fields, fileName, contentType: file.contentType, sizeBytes: file.sizeBytes, sha256: file.sha256 });
      } finally {
        handled();
      }
    });
  }
  // After the route: the scaffolding route is part of the document and held to it.
  const check = checkResponsesAgainstDocument(app, (mismatch) => t.fail(`the response breaks the OpenAPI document: ${mismatch}`));
  return {
    app,
    storageDir,
    checked: check.checked,
    nextHandled: () =>
      new Promise((resolve) => {
        handled = resolve;
      }),
  };
}

const post = async (app: FastifyInstance, parts: Part[], url = URL) => app.inject({ method: 'POST', url, ...(await multipart(parts)) });
const fieldsFor = (extra: Part[] = []): Part[] => [['patientId', PATIENT], ['category', 'report'], ...extra];

function problem(response: LightMyRequestResponse): { status: number; code: string; detail: string; errors: unknown } {
  const { status, code, detail, errors } = response.json();
  return { status, code, detail, errors };
}

t.test('the form is the operation’s multipart/form-data request body, in a valid OpenAPI 3.1 document', async (t) => {
  const { app } = await harness(t);
  const document = (await app.inject({ url: '/openapi.json' })).json();
  const operation = document.paths[URL].post;
  t.same(
    operation.requestBody,
    {
      required: true,
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            properties: {
              patientId: {
                type: 'string',
                format: 'uuid',
                pattern: z.toJSONSchema(z.uuid()).pattern,
              },
              category: { type: 'string', enum: ['registration', 'report', 'other'] },
              note: { type: 'string', maxLength: 200 },
              file: {
                type: 'string',
                format: 'binary',
                contentMediaType: 'application/octet-stream',
                description:
                  "The file: a PDF, PNG, JPEG or UTF-8 plain text of at most 65536 bytes, recognised from its bytes (the part's content type and name are not believed).",
              },
            },
            required: ['patientId', 'category', 'file'],
            additionalProperties: false,
          },
        },
      },
    },
    'fields and file, as the form declares them',
  );
  t.same(Object.keys(operation.responses).sort(), ['201', '400', '413', '415', '500', '503'], 'its statuses');
  t.same(operation.responses['400'].content['application/problem+json'].schema.properties.code, { enum: ['MALFORMED_BODY', 'VALIDATION_FAILED'] });
  const validator = new Validator();
  const result = await validator.validate(structuredClone(document));
  t.same(result.errors ?? [], [], 'the document with it is valid OpenAPI 3.1');
});

t.test('PDF, PNG, JPEG and text are stored with the type their bytes say, whatever the part claims', async (t) => {
  const { app, storageDir } = await harness(t);
  const claims: Record<keyof typeof ACCEPTED, { name: string; type: string }> = {
    pdf: { name: 'photo.png', type: 'image/png' },
    png: { name: '../../etc/passwd.txt', type: 'text/plain' },
    jpeg: { name: 'C:\\Users\\reception\\scan.pdf', type: 'application/pdf' },
    text: { name: 'notes.exe', type: 'application/x-msdownload' },
  };
  const expectedNames = { pdf: 'photo.png', png: 'passwd.txt', jpeg: 'scan.pdf', text: 'notes.exe' };
  for (const kind of ['pdf', 'png', 'jpeg', 'text'] as const) {
    const sample = ACCEPTED[kind];
    const response = await post(app, fieldsFor([['file', { bytes: sample.bytes, ...claims[kind] }]]));
    t.equal(response.statusCode, 201, `${kind}: 201`);
    const body = response.json();
    t.same(
      { ...body, id: 'id' },
      {
        id: 'id',
        fields: { patientId: PATIENT, category: 'report' },
        fileName: expectedNames[kind],
        contentType: sample.type,
        sizeBytes: sample.bytes.length,
        sha256: sample.sha256,
      },
      `${kind} sent as ${claims[kind].type} named ${claims[kind].name}: ${sample.type}, the name without its folders`,
    );
    t.same(await readFile(path.join(storageDir, CLINIC, body.id)), sample.bytes, `${kind}: stored byte for byte under <clinic>/<id>`);
  }
  t.equal((await filesUnder(storageDir)).filter((file) => file.startsWith('.staging/')).length, 0, 'nothing left staged');
  t.equal((await filesUnder(storageDir)).length, 4, 'four blobs');

  const fieldsLast = await post(app, [['file', { bytes: ACCEPTED.text.bytes, name: 'a.txt' }], ['note', 'after the file'], ...fieldsFor()]);
  t.equal(fieldsLast.statusCode, 201, 'fields may follow the file');
  t.same(fieldsLast.json().fields, { note: 'after the file', patientId: PATIENT, category: 'report' });
});

t.test('an executable, an archive, HTML or SVG named .pdf is a 415, and nothing is left on disk', async (t) => {
  const { app, storageDir } = await harness(t);
  for (const what of ['an ELF executable', 'a Windows executable', 'a zip archive', 'an HTML page', 'an SVG image', 'a shell script']) {
    const sample = REFUSED[what]!;
    const response = await post(app, fieldsFor([['file', { bytes: sample.bytes, name: 'scan.pdf', type: 'application/pdf' }]]));
    t.equal(response.headers['content-type'], PROBLEM_CONTENT_TYPE);
    t.same(
      problem(response),
      {
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        detail: 'The file must be a PDF, PNG, JPEG or plain text.',
        errors: [{ path: 'body.file', message: `must be a PDF, PNG, JPEG or UTF-8 plain text; it ${sample.is}` }],
      },
      `${what} as scan.pdf: 415`,
    );
  }
  t.same(await filesUnder(storageDir), [], 'nothing stored, nothing staged');
});

t.test("the route's size limit: exactly the limit is stored, one byte more is a 413 with nothing left", async (t) => {
  const { app, storageDir } = await harness(t);
  const atLimit = await post(app, fieldsFor([['file', { bytes: Buffer.alloc(MAX_BYTES, 'a'), name: 'a.txt' }]]));
  t.equal(atLimit.statusCode, 201, `${MAX_BYTES} bytes: 201`);
  t.equal(atLimit.json().sizeBytes, MAX_BYTES);
  const stored = await filesUnder(storageDir);

  const over = await post(app, fieldsFor([['file', { bytes: Buffer.alloc(MAX_BYTES + 1, 'a'), name: 'a.txt' }]]));
  t.same(
    problem(over),
    {
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      detail: 'The file is larger than 65536 bytes.',
      errors: [{ path: 'body.file', message: 'must be at most 65536 bytes' }],
    },
    `${MAX_BYTES + 1} bytes: 413`,
  );
  const huge = await post(app, fieldsFor([['file', { bytes: Buffer.alloc(4 * MAX_BYTES, 'a'), name: 'a.txt' }]]));
  t.equal(huge.statusCode, 413, 'four times the limit: 413');
  t.same(await filesUnder(storageDir), stored, 'only the first file is on disk');

  const beyondDefault = await post(app, fieldsFor([['file', { bytes: Buffer.alloc(1536 * 1024, 'a'), name: 'a.txt' }]]), LARGE_URL);
  t.equal(beyondDefault.statusCode, 201, "1.5 MiB on a route whose limit is 2 MiB: 201 (the route's limit replaces the 1 MiB default)");
  t.equal(beyondDefault.json().sizeBytes, 1536 * 1024, 'all of it');
  const overLarge = await post(app, fieldsFor([['file', { bytes: Buffer.alloc(2 * 1024 * 1024 + 1, 'a'), name: 'a.txt' }]]), LARGE_URL);
  t.match(problem(overLarge), { status: 413, errors: [{ path: 'body.file', message: 'must be at most 2097152 bytes' }] }, 'one byte over 2 MiB: 413');
  t.equal((await filesUnder(storageDir)).length, 2, 'two blobs, nothing staged');
});

t.test('bodies that are not a multipart form are 415, broken ones 400, never a 500', async (t) => {
  const { app, storageDir } = await harness(t);
  const notMultipart = { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', detail: 'The request body must be multipart/form-data.', errors: [] };
  t.same(problem(await app.inject({ method: 'POST', url: URL, payload: { patientId: PATIENT, category: 'report', file: 'x' } })), notMultipart, 'JSON: 415');
  t.same(problem(await app.inject({ method: 'POST', url: URL })), notMultipart, 'no body: 415');
  t.same(problem(await app.inject({ method: 'POST', url: URL, headers: { 'content-type': 'text/plain' }, payload: 'a file' })), notMultipart, 'text: 415');
  t.same(
    problem(await app.inject({ method: 'POST', url: URL, headers: { 'content-type': 'application/pdf' }, payload: ACCEPTED.pdf.bytes })),
    { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', detail: 'Unsupported content type', errors: [] },
    'a raw PDF body: 415 (no parser takes it)',
  );

  const malformed = { status: 400, code: 'MALFORMED_BODY', detail: 'The multipart body could not be parsed.', errors: [] };
  t.same(
    problem(await app.inject({ method: 'POST', url: URL, headers: { 'content-type': 'multipart/form-data' }, payload: 'no boundary' })),
    malformed,
    'multipart without a boundary: 400',
  );
  t.same(
    problem(await app.inject({ method: 'POST', url: URL, headers: { 'content-type': 'multipart/form-data; boundary=xyz' }, payload: 'not a form at all' })),
    malformed,
    'a body without the boundary in it: 400',
  );
  const { headers, payload } = await multipart(fieldsFor([['file', { bytes: Buffer.alloc(20_000, 'a'), name: 'a.txt' }]]));
  const cut = await app.inject({ method: 'POST', url: URL, headers, payload: payload.subarray(0, payload.length - 5_000) });
  t.same(
    problem(cut),
    { status: 400, code: 'MALFORMED_BODY', detail: 'The upload did not arrive whole.', errors: [] },
    'a body that ends inside the file: 400',
  );
  t.same(await filesUnder(storageDir), [], 'nothing stored, nothing staged');
});

t.test('the form is held to its declaration: fields, the one file, and their limits', async (t) => {
  const { app, storageDir, checked } = await harness(t);
  const file: Part = ['file', { bytes: ACCEPTED.pdf.bytes, name: 'scan.pdf' }];
  const cases: [string, Part[], { status: number; code: string; errors: unknown }][] = [
    ['no file', fieldsFor(), { status: 400, code: 'VALIDATION_FAILED', errors: [{ path: 'body.file', message: 'is required' }] }],
    [
      'a file under another name',
      [...fieldsFor(), ['attachment', { bytes: ACCEPTED.pdf.bytes, name: 'scan.pdf' }]],
      { status: 400, code: 'VALIDATION_FAILED', errors: [{ path: 'body.attachment', message: 'is not a file field of this form' }] },
    ],
    [
      'a file without a name',
      [...fieldsFor(), ['file', { bytes: ACCEPTED.pdf.bytes, name: '' }]],
      {
        status: 400,
        code: 'VALIDATION_FAILED',
        errors: [{ path: 'body.file', message: 'must have a file name of 1–255 characters without control characters' }],
      },
    ],
    [
      'a file name of 256 characters',
      [...fieldsFor(), ['file', { bytes: ACCEPTED.pdf.bytes, name: `${'n'.repeat(252)}.pdf` }]],
      {
        status: 400,
        code: 'VALIDATION_FAILED',
        errors: [{ path: 'body.file', message: 'must have a file name of 1–255 characters without control characters' }],
      },
    ],
    [
      'a patient id that is not a UUID',
      [['patientId', '42'], ['category', 'report'], file],
      { status: 400, code: 'VALIDATION_FAILED', errors: [{ path: 'body.patientId', message: 'Invalid UUID' }] },
    ],
    [
      'a category not on the list, after the file',
      [['patientId', PATIENT], file, ['category', 'x-ray']],
      {
        status: 400,
        code: 'VALIDATION_FAILED',
        errors: [{ path: 'body.category', message: 'Invalid option: expected one of "registration"|"report"|"other"' }],
      },
    ],
    [
      'a field the form does not have',
      [...fieldsFor([['storagePath', '../../etc']]), file],
      { status: 400, code: 'VALIDATION_FAILED', errors: [{ path: 'body', message: 'Unrecognized key: "storagePath"' }] },
    ],
    [
      'a field given twice',
      [...fieldsFor([['category', 'other']]), file],
      {
        status: 400,
        code: 'VALIDATION_FAILED',
        errors: [{ path: 'body.category', message: 'Invalid option: expected one of "registration"|"report"|"other"' }],
      },
    ],
    [
      'a control character in a field',
      [...fieldsFor([['note', 'ring\u0007']]), file],
      { status: 400, code: 'VALIDATION_FAILED', errors: [{ path: 'body.note', message: 'must not contain control characters' }] },
    ],
    [
      'a field longer than the 1024 bytes any form field may hold',
      [...fieldsFor([['note', 'n'.repeat(1025)]]), file],
      { status: 400, code: 'VALIDATION_FAILED', errors: [{ path: 'body.note', message: 'is too long' }] },
    ],
    ['two files', [...fieldsFor(), file, file], { status: 413, code: 'PAYLOAD_TOO_LARGE', errors: [] }],
    ['more than 8 fields', fieldsFor(Array.from({ length: 7 }, (_, i): Part => [`extra${i}`, 'x'])), { status: 413, code: 'PAYLOAD_TOO_LARGE', errors: [] }],
  ];
  for (const [what, parts, expected] of cases) {
    const { status, code, errors } = problem(await post(app, parts));
    t.same({ status, code, errors }, expected, what);
    t.same(await filesUnder(storageDir), [], `${what}: nothing stored, nothing staged`);
  }
  t.equal(checked(), cases.length, 'every answer was held to the OpenAPI document');
});

t.test('other routes refuse a multipart body with 415, as before multipart was parsed', async (t) => {
  const { app } = await harness(t);
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    ...(await multipart([
      ['email', 'someone@example.test'],
      ['password', 'a long password here'],
    ])),
  });
  t.same(problem(response), { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', detail: 'Unsupported content type', errors: [] });
});

t.test('a client that goes away in the middle of an upload leaves nothing on disk', async (t) => {
  const { app, storageDir, nextHandled } = await harness(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as net.AddressInfo;
  const { headers, payload } = await multipart(fieldsFor([['file', { bytes: Buffer.alloc(MAX_BYTES - 1000, 'a'), name: 'a.txt' }]]));
  const handled = nextHandled();
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST ${URL} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: ${headers['content-type']}\r\ncontent-length: ${payload.length}\r\n\r\n`);
  socket.write(payload.subarray(0, payload.length / 2));
  // The first half is on its way to disk: the upload has been staged.
  t.match(
    await eventually(
      () => filesUnder(storageDir),
      (files) => files.length > 0,
    ),
    [/^\.staging\/.+\.part$/],
    'half an upload, staged',
  );
  socket.destroy();
  await handled;
  t.same(await filesUnder(storageDir), [], 'the handler finished and the staged half is gone');
});

t.test('over a real connection, an upload refused midway gets its 413 and the connection is closed, not left with the rest unread', async (t) => {
  const { app, storageDir } = await harness(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as net.AddressInfo;
  const { headers, payload } = await multipart(fieldsFor([['file', { bytes: Buffer.alloc(16 * MAX_BYTES, 'a'), name: 'a.txt' }]]));
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let answer = '';
  const closed = new Promise((resolve) => socket.once('close', resolve));
  /** The whole answer: its head and as many bytes of body as its content-length says. */
  const answered = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      const [head = '', body] = answer.split('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(head)?.[1];
      if (body !== undefined && length && body.length >= Number(length)) resolve();
    });
  });
  socket.write(`POST ${URL} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: ${headers['content-type']}\r\ncontent-length: ${payload.length}\r\n\r\n`);
  // Twice the limit, and then nothing more: the rest of the announced body never comes.
  socket.write(payload.subarray(0, 2 * MAX_BYTES));
  await answered;
  t.match(answer, /^HTTP\/1\.1 413 Payload Too Large\r\n/, '413');
  t.match(answer, /"code":"PAYLOAD_TOO_LARGE"/);
  if (/\r\nconnection: close\r\n/i.test(answer)) {
    t.pass('announced as the last answer on the connection');
    await closed;
    t.pass('and the server closed the connection instead of waiting for the rest of the body');
  } else {
    t.fail(`the connection stays open with the rest of the upload unread:\n${answer.split('\r\n\r\n')[0]}`);
    socket.destroy();
  }
  const upload = await multipart(fieldsFor([['file', { bytes: ACCEPTED.text.bytes, name: 'a.txt' }]]));
  const next = await fetch(`http://127.0.0.1:${port}${URL}`, { method: 'POST', headers: upload.headers, body: upload.payload });
  t.equal(next.status, 201, 'the server serves the next upload');
  t.equal((await filesUnder(storageDir)).length, 1, 'only that one is stored');
});
