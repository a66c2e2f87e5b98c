// The upload pipeline on a real disk: accepted files come out with the type their bytes say, their
// size and SHA-256, staged until committed; refused ones (too large, a type not on the list, empty,
// a source that breaks off) leave nothing behind, and reading stops at the refusal.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { AppError } from '../../src/errors.ts';
import { storageKey } from '../../src/storage/blob-storage.ts';
import { LocalDiskStorage } from '../../src/storage/local-disk.ts';
import { stageUpload } from '../../src/storage/upload.ts';
import { ACCEPTED, REFUSED } from '../helpers/sample-files.ts';
import { filesUnder, temporaryStorageDir } from '../helpers/storage.ts';
import { eventually } from '../helpers/wait.ts';

const CLINIC = '3f2c8a4e-1b7d-4c2a-9e8f-0a1b2c3d4e5f';
const FILE = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
const MiB = 1024 * 1024;

async function openStorage(t: Test): Promise<{ root: string; storage: LocalDiskStorage }> {
  const root = await temporaryStorageDir(t);
  return { root, storage: await LocalDiskStorage.open(root) };
}

/** `bytes` in chunks of `size` (a network delivers them in pieces). */
function* chunked(bytes: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

/** The AppError a promise rejects with, as the client would see its parts. */
async function refusal(promise: Promise<unknown>): Promise<{ code: string; status: number; errors: unknown }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return { code: error.code, status: error.status, errors: error.errors };
}

t.test('a PDF, a PNG, a JPEG and plain text: the type from the bytes, the size and the SHA-256; staged until commit', async (t) => {
  const { root, storage } = await openStorage(t);
  for (const [kind, sample] of Object.entries(ACCEPTED)) {
    // In 5-byte pieces: the type is found across chunks, and text is checked across them.
    const upload = await stageUpload(storage, Readable.from(chunked(sample.bytes, 5)), { maxBytes: MiB });
    t.same(
      { contentType: upload.contentType, sizeBytes: upload.sizeBytes, sha256: upload.sha256 },
      { contentType: sample.type, sizeBytes: sample.bytes.length, sha256: sample.sha256 },
      kind,
    );
    t.same((await filesUnder(root)).length, 1, `${kind}: staged, one file`);
    t.match(await filesUnder(root), [/^\.staging\//], `${kind}: in .staging, under no key`);
    await upload.discard();
  }
  t.same(await filesUnder(root), [], 'discarded: nothing left');

  const upload = await stageUpload(storage, Readable.from([ACCEPTED.png.bytes]), { maxBytes: MiB });
  await upload.commit(storageKey(CLINIC, FILE));
  t.same(await filesUnder(root), [`${CLINIC}/${FILE}`], 'committed: under its key only');
  t.same(await readFile(path.join(root, CLINIC, FILE)), ACCEPTED.png.bytes, 'byte for byte');
});

t.test('text is accepted across the sniffing window, and checked to its last byte', async (t) => {
  const { root, storage } = await openStorage(t);
  const line = 'Température 37,2 °C, tension 12/8\n';
  const long = Buffer.from(line.repeat(400), 'utf8');
  t.ok(long.length > 10_000, 'longer than the first 4100 bytes file-type looks at');
  const accepted = await stageUpload(storage, Readable.from(chunked(long, 7)), { maxBytes: MiB });
  t.equal(accepted.contentType, 'text/plain', 'multi-byte characters split between chunks are fine');
  t.equal(accepted.sizeBytes, long.length);
  await accepted.discard();

  const lateNul = Buffer.concat([long, Buffer.from('\u0000')]);
  t.same(
    await refusal(stageUpload(storage, Readable.from(chunked(lateNul, 4096)), { maxBytes: MiB })),
    {
      code: 'UNSUPPORTED_MEDIA_TYPE',
      status: 415,
      errors: [{ path: 'body.file', message: 'must be a PDF, PNG, JPEG or UTF-8 plain text; it holds control characters' }],
    },
    'a NUL after 10 kB of good text is still found',
  );
  const lateInvalid = Buffer.concat([long, Buffer.from([0xff]), Buffer.from('more text')]);
  t.match(
    await refusal(stageUpload(storage, Readable.from(chunked(lateInvalid, 4096)), { maxBytes: MiB })),
    { status: 415, errors: [{ message: /it is not UTF-8 text$/ }] },
    'so is a byte that is not UTF-8',
  );
  const lessThan = await stageUpload(storage, Readable.from([Buffer.from('<0.5 mmol/L: below the range\n')]), { maxBytes: MiB });
  t.equal(lessThan.contentType, 'text/plain', 'text that starts with "<" and a digit is text, not a tag');
  await lessThan.discard();
  t.same(await filesUnder(root), [], 'nothing left');
});

t.test('executables, archives, other images, markup and scripts are refused whatever the client calls them', async (t) => {
  const { root, storage } = await openStorage(t);
  for (const [what, sample] of Object.entries(REFUSED)) {
    t.same(
      await refusal(stageUpload(storage, Readable.from([sample.bytes]), { maxBytes: MiB, errorPath: 'body.scan' })),
      {
        code: 'UNSUPPORTED_MEDIA_TYPE',
        status: 415,
        errors: [{ path: 'body.scan', message: `must be a PDF, PNG, JPEG or UTF-8 plain text; it ${sample.is}` }],
      },
      what,
    );
  }
  t.same(await filesUnder(root), [], 'nothing left behind by any of them');
});

t.test('a foreign type is refused at the first bytes: the rest is never read', async (t) => {
  const { root, storage } = await openStorage(t);
  let pulled = 0;
  let closed = false;
  async function* zipThenMore() {
    try {
      yield REFUSED['a zip archive']!.bytes;
      for (let i = 0; i < 1000; i += 1) {
        pulled += 1;
        yield Buffer.alloc(4096);
      }
    } finally {
      closed = true;
    }
  }
  t.match(await refusal(stageUpload(storage, zipThenMore(), { maxBytes: 100 * MiB })), { status: 415 });
  t.equal(pulled, 1, 'one chunk after the signature completed the sniffing window, then reading stopped');
  t.ok(closed, 'the source was closed');
  t.same(await filesUnder(root), [], 'nothing left');
});

t.test('the size limit: the limit itself passes, one byte more is a 413, and reading stops there', async (t) => {
  const { root, storage } = await openStorage(t);
  const limit = 10_000;
  const exactly = await stageUpload(storage, Readable.from(chunked(Buffer.alloc(limit, 'a'), 1000)), { maxBytes: limit });
  t.equal(exactly.sizeBytes, limit, `${limit} bytes with a limit of ${limit}: accepted`);
  await exactly.discard();

  t.same(
    await refusal(stageUpload(storage, Readable.from(chunked(Buffer.alloc(limit + 1, 'a'), 1000)), { maxBytes: limit })),
    { code: 'PAYLOAD_TOO_LARGE', status: 413, errors: [{ path: 'body.file', message: 'must be at most 10000 bytes' }] },
    `${limit + 1} bytes: 413`,
  );

  let pulled = 0;
  let closed = false;
  async function* endless() {
    try {
      while (true) {
        pulled += 1;
        yield Buffer.alloc(1000, 'a');
      }
    } finally {
      closed = true;
    }
  }
  t.match(await refusal(stageUpload(storage, endless(), { maxBytes: limit })), { code: 'PAYLOAD_TOO_LARGE' }, 'an endless upload: 413');
  t.equal(pulled, 11, 'read up to the chunk that crossed the limit, no further');
  t.ok(closed, 'the source was closed');

  // busboy stops at its own limit and marks the stream, which then ends as if complete.
  const truncated = Object.assign(Readable.from([Buffer.from('cut short by the parser')]), { truncated: true });
  t.match(await refusal(stageUpload(storage, truncated, { maxBytes: limit })), { code: 'PAYLOAD_TOO_LARGE' }, 'a stream the parser truncated: 413');
  t.same(await filesUnder(root), [], 'nothing left by any refusal');
});

t.test('an empty file is refused; a source that breaks off midway leaves nothing', async (t) => {
  const { root, storage } = await openStorage(t);
  t.same(
    await refusal(stageUpload(storage, Readable.from([]), { maxBytes: MiB })),
    { code: 'VALIDATION_FAILED', status: 400, errors: [{ path: 'body.file', message: 'must not be empty' }] },
    'empty: 400',
  );

  const source = new Readable({ read() {} });
  const result = refusal(stageUpload(storage, source, { maxBytes: MiB }));
  source.push(ACCEPTED.pdf.bytes);
  source.push(Buffer.alloc(8192, 'x'));
  // Wait until the pipeline has staged what arrived, then cut the connection.
  t.equal(
    (
      await eventually(
        () => filesUnder(root),
        (files) => files.length > 0,
      )
    ).length,
    1,
    'what arrived is staged',
  );
  source.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  t.same(await result, { code: 'MALFORMED_BODY', status: 400, errors: [] }, 'the client went away: 400 (the upload did not arrive whole)');
  t.same(await filesUnder(root), [], 'the staged half is gone');
});

t.test('a disk failure while staging is a server error, and the staged bytes are still discarded', async (t) => {
  const { root, storage } = await openStorage(t);
  const failing = {
    ...storage,
    stage: async () => {
      const staged = await storage.stage();
      return {
        write: async () => {
          throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        },
        commit: staged.commit.bind(staged),
        discard: staged.discard.bind(staged),
      };
    },
  } as unknown as LocalDiskStorage;
  await t.rejects(stageUpload(failing, Readable.from([ACCEPTED.pdf.bytes]), { maxBytes: MiB }), { code: 'ENOSPC' }, 'not mapped to a client error');
  t.same(await filesUnder(root), [], 'discarded');
});
