// Files over HTTP against the real app, a real database and a real STORAGE_DIR per test: what is
// stored (bytes, SHA-256 computed here, the row), what is answered (metadata without any key or
// path; downloads with their headers), who may do what (the matrix, footnote 9: uploads by
// doctors, nurses and receptionists; a patient reads their own; a lab technician nothing yet), the
// chart access log of every read, and every refusal leaving neither row nor blob nor staged bytes.
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { attachmentDisposition } from '../../src/http/disposition.ts';
import { storageKey } from '../../src/storage/blob-storage.ts';
import { actorIn, createActors } from '../helpers/actors.ts';
import { buildTestApp } from '../helpers/app.ts';
import { testClient } from '../helpers/client.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';
import { type FilePart, multipart, type Part } from '../helpers/multipart.ts';
import { ACCEPTED, REFUSED } from '../helpers/sample-files.ts';
import { filesUnder } from '../helpers/storage.ts';
import { eventually } from '../helpers/wait.ts';

const MAX_BYTES = 64 * 1024;
type ClinicKey = 'a' | 'b';

async function setup(t: Test, options: { fileMaxBytes?: number } = {}) {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  await createActors(db, [clinics.a, clinics.b]);
  const { app, storageDir, logs } = await buildTestApp(t, db.authenticatorUrl, undefined, undefined, {}, { fileMaxBytes: options.fileMaxBytes ?? MAX_BYTES });
  const client = testClient(app);
  const member = (role: ClinicRole, clinic: ClinicKey = 'a') => actorIn(db, clinics[clinic], role);
  const token = (role: ClinicRole, clinic: ClinicKey = 'a') =>
    client.clinicToken(role, { id: clinics[clinic], slug: `clinic-${clinic}` }, member(role, clinic).account);
  /** A patient record of the clinic (linked to its patient actor's portal login when `own`). */
  const patient = async (clinic: ClinicKey = 'a', own = false): Promise<string> => {
    const { rows } = await db.admin.query<{ id: string }>(
      `insert into app_public.patients (clinic_id, full_name, date_of_birth, sex, member_id) values ($1, 'File Owner', '1970-07-07', 'male', $2) returning id`,
      [clinics[clinic], own ? member('patient', clinic).member : null],
    );
    return rows[0]!.id;
  };
  const upload = async (role: ClinicRole, parts: Part[], clinic: ClinicKey = 'a', headers: Record<string, string> = {}) => {
    const body = await multipart(parts);
    return app.inject({
      method: 'POST',
      url: `/api/v1/clinics/clinic-${clinic}/files`,
      headers: { ...body.headers, ...headers, authorization: `Bearer ${await token(role, clinic)}` },
      payload: body.payload,
    });
  };
  const get = async (role: ClinicRole, url: string, clinic: ClinicKey = 'a', headers: Record<string, string> = {}) =>
    app.inject({
      method: 'GET',
      url: `/api/v1/clinics/clinic-${clinic}/files${url}`,
      headers: { ...headers, authorization: `Bearer ${await token(role, clinic)}` },
    });
  const rows = async () =>
    (
      await db.admin.query(
        `select clinic_id as "clinicId", id, patient_id as "patientId", category, original_name as "originalName", content_type as "contentType",
                size_bytes::int as "sizeBytes", sha256, uploaded_by as "uploadedBy" from app_public.files order by created_at, id`,
      )
    ).rows;
  const accessLog = async () =>
    (
      await db.admin.query(
        `select clinic_id as "clinicId", patient_id as "patientId", file_id as "fileId", action, member_id as "memberId", request_id as "requestId",
                host(client_ip) as "clientIp" from app_public.patient_access_log order by accessed_at, id`,
      )
    ).rows;
  return { db, clinics, app, storageDir, logs, member, token, patient, upload, get, rows, accessLog };
}

const form = (patientId: string, file: FilePart, category = 'report'): Part[] => [
  ['patientId', patientId],
  ['category', category],
  ['file', file],
];

const problem = (response: LightMyRequestResponse) => {
  const { status, code, detail, errors } = response.json();
  return { status, code, detail, errors };
};

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

t.test('upload and download round trip: the bytes, their SHA-256, the row, the headers', async (t) => {
  const { clinics, storageDir, member, patient, upload, get, rows } = await setup(t);
  const patientId = await patient();
  const names = { pdf: 'consent form.pdf', png: 'x-ray.png', jpeg: 'photo.jpg', text: 'notes.txt' };
  for (const kind of ['pdf', 'png', 'jpeg', 'text'] as const) {
    const sample = ACCEPTED[kind];
    // The part claims another type: only the bytes count.
    const created = await upload('receptionist', form(patientId, { bytes: sample.bytes, name: names[kind], type: 'application/octet-stream' }, 'registration'));
    t.equal(created.statusCode, 201, `${kind}: 201`);
    const body = created.json();
    t.same(
      Object.keys(body).sort(),
      ['category', 'contentType', 'createdAt', 'id', 'originalName', 'patientId', 'sha256', 'sizeBytes', 'uploadedBy'],
      'metadata only: no clinic, key or path',
    );
    t.same(
      { ...body, id: 'id', createdAt: 'at' },
      {
        id: 'id',
        patientId,
        category: 'registration',
        originalName: names[kind],
        contentType: sample.type,
        sizeBytes: sample.bytes.length,
        sha256: sample.sha256,
        uploadedBy: member('receptionist').member,
        createdAt: 'at',
      },
      `${kind}: the metadata`,
    );
    t.equal(body.sha256, sha256(sample.bytes), `${kind}: the SHA-256 recorded is the one computed here`);
    t.same(await readFile(path.join(storageDir, clinics.a, body.id)), sample.bytes, `${kind}: stored under <clinic>/<id>, byte for byte`);

    const download = await get('doctor', `/${body.id}/content`);
    t.equal(download.statusCode, 200, `${kind}: downloaded`);
    t.same(download.rawPayload, sample.bytes, `${kind}: the same bytes`);
    t.equal(sha256(download.rawPayload), sample.sha256);
    t.same(
      {
        type: download.headers['content-type'],
        length: download.headers['content-length'],
        disposition: download.headers['content-disposition'],
        nosniff: download.headers['x-content-type-options'],
        cache: download.headers['cache-control'],
      },
      {
        type: kind === 'text' ? 'text/plain; charset=utf-8' : sample.type,
        length: String(sample.bytes.length),
        disposition: `attachment; filename="${names[kind]}"; filename*=UTF-8''${encodeURIComponent(names[kind])}`,
        nosniff: 'nosniff',
        cache: 'no-store',
      },
      `${kind}: the download's headers`,
    );
    const metadata = await get('nurse', `/${body.id}`);
    t.same(metadata.json(), body, `${kind}: its metadata by id`);
  }
  t.equal((await rows()).length, 4, 'four rows');
  t.equal((await filesUnder(storageDir)).length, 4, 'four blobs, nothing left staged');
});

t.test('the list of a patient’s files: newest first, cursor pages, only that patient’s', async (t) => {
  const { patient, upload, get } = await setup(t);
  const [first, other] = [await patient(), await patient()];
  const ids: string[] = [];
  for (const n of [1, 2, 3]) {
    ids.push((await upload('nurse', form(first, { bytes: Buffer.from(`note ${n}\n`), name: `note-${n}.txt` }))).json().id);
  }
  await upload('nurse', form(other, { bytes: Buffer.from('not theirs\n'), name: 'other.txt' }));
  const page1 = (await get('doctor', `?patientId=${first}&limit=2`)).json();
  t.same(
    page1.items.map((item: { originalName: string }) => item.originalName),
    ['note-3.txt', 'note-2.txt'],
    'page 1: the newest two',
  );
  t.type(page1.nextCursor, 'string');
  const page2 = (await get('doctor', `?patientId=${first}&limit=2&after=${page1.nextCursor}`)).json();
  t.same(
    page2.items.map((item: { id: string }) => item.id),
    [ids[0]],
    'page 2: the last one',
  );
  t.equal(page2.nextCursor, null, 'and no more');
  const unknown = await get('doctor', `?patientId=${randomUUID()}`);
  t.same(unknown.json(), { items: [], nextCursor: null }, 'an unknown patient has no files');
  const noPatient = await get('doctor', '');
  t.same(
    problem(noPatient).errors,
    [{ path: 'querystring.patientId', message: 'Invalid input: expected string, received undefined' }],
    'the patient is required',
  );
});

t.test("another clinic's token cannot reach a file: by id, by key or path tricks, or by attaching to the patient", async (t) => {
  const { clinics, app, storageDir, token, patient, upload, get, rows, accessLog } = await setup(t);
  const patientA = await patient('a');
  const fileA = (await upload('doctor', form(patientA, { bytes: ACCEPTED.pdf.bytes, name: 'a.pdf' }))).json().id as string;
  const before = await filesUnder(storageDir);
  const unknownId = randomUUID();
  const without = ({ requestId: _r, ...rest }: Record<string, unknown>) => rest;
  for (const role of ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'patient'] as const) {
    for (const suffix of ['', '/content']) {
      const theirs = await get(role, `/${fileA}${suffix}`, 'b');
      const unknown = await get(role, `/${unknownId}${suffix}`, 'b');
      t.equal(theirs.statusCode, 404, `clinic B's ${role}: GET files/{A's id}${suffix} is 404`);
      t.same(without(theirs.json()), without(unknown.json()), `clinic B's ${role}: exactly as an unknown id`);
    }
    const listed = await get(role, `?patientId=${patientA}`, 'b');
    t.same(listed.json(), { items: [], nextCursor: null }, `clinic B's ${role}: A's patient has no files for them`);
  }
  t.equal((await get('doctor', `/${fileA.toUpperCase()}/content`, 'b')).statusCode, 404, 'the id in upper case: 404 too');

  const tricks = [
    `/${clinics.a}%2F${fileA}/content`,
    `/..%2F${clinics.a}%2F${fileA}/content`,
    `/${encodeURIComponent(`../${clinics.a}/${fileA}`)}/content`,
    `/${fileA}%00/content`,
    `/${fileA}/content/..%2F..%2F${clinics.a}`,
    `/${clinics.a}/${fileA}/content`,
    `/../../${clinics.a}/${fileA}`,
    `/${fileA}/content?key=${clinics.a}/${fileA}`,
    `/${fileA}/content?clinicId=${clinics.a}`,
  ];
  for (const trick of tricks) {
    const response = await get('doctor', trick, 'b');
    t.ok([400, 404].includes(response.statusCode), `${trick}: ${response.statusCode}`);
    t.not(response.rawPayload.toString('latin1'), ACCEPTED.pdf.bytes.toString('latin1'), `${trick}: none of the bytes`);
  }
  // A's slug with B's token: the guard refuses the clinic (as unknown) before any file is read.
  const crossSlug = await app.inject({
    method: 'GET',
    url: `/api/v1/clinics/clinic-a/files/${fileA}/content`,
    headers: { authorization: `Bearer ${await token('doctor', 'b')}` },
  });
  t.same([crossSlug.statusCode, crossSlug.json().code], [404, 'NOT_FOUND'], "clinic A's URL with clinic B's token: 404");

  const attached = await upload('receptionist', form(patientA, { bytes: ACCEPTED.text.bytes, name: 'b.txt' }), 'b');
  t.same(
    problem(attached),
    {
      status: 422,
      code: 'CONSTRAINT_VIOLATION',
      detail: 'refers to something that does not exist',
      errors: [{ path: 'body.patientId', message: 'refers to something that does not exist' }],
    },
    "clinic B cannot attach a file to A's patient",
  );
  const smuggled = await upload('receptionist', [...form(await patient('b'), { bytes: ACCEPTED.text.bytes, name: 'b.txt' }), ['clinicId', clinics.a]], 'b');
  t.same(problem(smuggled).errors, [{ path: 'body', message: 'Unrecognized key: "clinicId"' }], 'a clinic id in the form is refused');
  t.equal((await rows()).length, 1, 'only A’s file has a row');
  t.same(await filesUnder(storageDir), before, 'and a blob');
  t.same(await accessLog(), [], 'no read of another clinic’s file was recorded');
});

t.test('roles: doctors, nurses and receptionists upload; every staff role but the lab reads; a patient reads their own only', async (t) => {
  const { storageDir, member, patient, upload, get, rows } = await setup(t);
  const own = await patient('a', true);
  const other = await patient('a');
  const uploads: Record<string, number> = {};
  for (const role of ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'lab_technician', 'patient'] as const) {
    uploads[role] = (await upload(role, form(own, { bytes: Buffer.from(`by ${role}\n`), name: `${role}.txt` }))).statusCode;
  }
  t.same(uploads, { clinic_admin: 403, doctor: 201, nurse: 201, receptionist: 201, lab_technician: 422, patient: 403 }, 'who may upload');
  t.same(
    (await rows()).map((row) => row.uploadedBy),
    [member('doctor').member, member('nurse').member, member('receptionist').member],
    'each upload names its uploader',
  );
  t.equal((await filesUnder(storageDir)).length, 3, 'three blobs: nothing of the refused ones');

  const ownFile = (await rows())[0]!.id as string;
  const otherFile = (await upload('doctor', form(other, { bytes: Buffer.from('another patient\n'), name: 'other.txt' }))).json().id as string;
  const reads: Record<string, number[]> = {};
  for (const role of ['clinic_admin', 'doctor', 'nurse', 'receptionist', 'lab_technician', 'patient'] as const) {
    reads[role] = [
      (await get(role, `/${ownFile}`)).statusCode,
      (await get(role, `/${ownFile}/content`)).statusCode,
      (await get(role, `/${otherFile}`)).statusCode,
      (await get(role, `/${otherFile}/content`)).statusCode,
    ];
  }
  t.same(
    reads,
    {
      clinic_admin: [200, 200, 200, 200],
      doctor: [200, 200, 200, 200],
      nurse: [200, 200, 200, 200],
      receptionist: [200, 200, 200, 200],
      lab_technician: [403, 403, 403, 403],
      patient: [200, 200, 404, 404],
    },
    "reads of the patient's own file and of another patient's",
  );
  const listed = async (patientId: string) => (await get('patient', `?patientId=${patientId}`)).json().items.length;
  t.same([await listed(own), await listed(other)], [3, 0], 'a patient lists their own files, and none of another patient');
});

t.test('every read is in the chart access log: who, what, which file, from where, in which request', async (t) => {
  const { clinics, member, patient, upload, get, accessLog } = await setup(t);
  const patientId = await patient('a', true);
  const fileId = (await upload('nurse', form(patientId, { bytes: ACCEPTED.png.bytes, name: 'scan.png' }))).json().id as string;
  t.same(await accessLog(), [], 'an upload is not a read');
  await get('doctor', `/${fileId}/content`, 'a', { 'x-request-id': 'download-1' });
  await get('receptionist', `/${fileId}`, 'a', { 'x-request-id': 'metadata-1' });
  await get('patient', `?patientId=${patientId}`, 'a', { 'x-request-id': 'list-1' });
  await get('doctor', `/${randomUUID()}/content`, 'a', { 'x-request-id': 'unknown-1' });
  await get('doctor', `?patientId=${randomUUID()}`, 'a', { 'x-request-id': 'unknown-2' });
  const entry = { clinicId: clinics.a, patientId, clientIp: '127.0.0.1' };
  t.same(
    await accessLog(),
    [
      { ...entry, fileId, action: 'download_file', memberId: member('doctor').member, requestId: 'download-1' },
      { ...entry, fileId: null, action: 'read_files', memberId: member('receptionist').member, requestId: 'metadata-1' },
      { ...entry, fileId: null, action: 'read_files', memberId: member('patient').member, requestId: 'list-1' },
    ],
    'the download, the metadata read and the list; nothing for unknown ids',
  );
});

t.test('oversize and wrong-type uploads are refused with nothing left: no row, no blob, nothing staged', async (t) => {
  const { storageDir, patient, upload, rows } = await setup(t);
  const patientId = await patient();
  const atLimit = await upload('doctor', form(patientId, { bytes: Buffer.alloc(MAX_BYTES, 'a'), name: 'big.txt' }));
  t.equal(atLimit.statusCode, 201, 'exactly FILE_MAX_BYTES: 201');
  const kept = await filesUnder(storageDir);

  const over = await upload('doctor', form(patientId, { bytes: Buffer.alloc(MAX_BYTES + 1, 'a'), name: 'big.txt' }));
  t.same(
    problem(over),
    {
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      detail: `The file is larger than ${MAX_BYTES} bytes.`,
      errors: [{ path: 'body.file', message: `must be at most ${MAX_BYTES} bytes` }],
    },
    'one byte over: 413',
  );
  for (const what of ['an HTML page', 'an SVG image', 'a Windows executable', 'an ELF executable', 'text with a script further in']) {
    const response = await upload('doctor', form(patientId, { bytes: REFUSED[what]!.bytes, name: 'report.pdf', type: 'application/pdf' }));
    t.equal(response.statusCode, 415, `${what} named report.pdf, claimed application/pdf: 415`);
    t.equal(response.json().code, 'UNSUPPORTED_MEDIA_TYPE');
  }
  t.equal((await rows()).length, 1, 'only the file at the limit has a row');
  t.same(await filesUnder(storageDir), kept, 'and a blob; nothing staged');
});

t.test('the default limit is 20 MiB, as the document says', async (t) => {
  const db = await createTestDatabase(t);
  const { app } = await buildTestApp(t, db.authenticatorUrl);
  const document = (await app.inject({ url: '/openapi.json' })).json();
  const body = document.paths['/api/v1/clinics/{slug}/files'].post.requestBody.content['multipart/form-data'].schema;
  t.match(body.properties.file.description, /of at most 20971520 bytes/);
  t.same(body.required, ['patientId', 'category', 'file']);
});

t.test('the storage quota: 409 with nothing left', async (t) => {
  const { db, clinics, storageDir, patient, upload, rows } = await setup(t);
  const patientId = await patient();
  await db.admin.query(`insert into app_private.plans (code, name, max_storage_mb) values ('one_mb', 'One MB', 1)`);
  await db.admin.query(`update app_public.clinics set plan = 'one_mb' where id = $1`, [clinics.a]);
  // Already stored: the megabyte but for 100 bytes.
  await db.admin.query(
    `insert into app_public.files (clinic_id, patient_id, category, original_name, content_type, size_bytes, sha256, uploaded_by)
     values ($1, $2, 'other', 'old.pdf', 'application/pdf', $3, $4, $5)`,
    [clinics.a, patientId, 1024 * 1024 - 100, 'c'.repeat(64), actorIn(db, clinics.a, 'doctor').member],
  );
  const over = await upload('doctor', form(patientId, { bytes: Buffer.alloc(101, 'a'), name: 'one-too-many.txt' }));
  t.same(
    problem(over),
    { status: 409, code: 'CONFLICT', detail: "The clinic's plan limit is reached (patients or storage).", errors: [] },
    '101 bytes over the quota: 409',
  );
  t.equal((await rows()).length, 1, 'no new row');
  t.same(await filesUnder(storageDir), [], 'no blob, nothing staged');
  const fits = await upload('doctor', form(patientId, { bytes: Buffer.alloc(100, 'a'), name: 'exactly.txt' }));
  t.equal(fits.statusCode, 201, 'the last 100 bytes fit');
});

t.test('a transaction that fails after the blob was committed leaves no blob', async (t) => {
  const { db, storageDir, patient, upload, rows } = await setup(t);
  const patientId = await patient();
  // Fails at COMMIT, after the handler has put the blob under its key.
  await db.admin.query(`
    create function public.refuse_at_commit() returns trigger language plpgsql as $$
    begin raise exception 'refused at commit' using errcode = '23514', constraint = 'files_category_valid', table = 'files'; end $$;
    create constraint trigger refuse_at_commit after insert on app_public.files
      deferrable initially deferred for each row execute function public.refuse_at_commit();`);
  const response = await upload('doctor', form(patientId, { bytes: ACCEPTED.jpeg.bytes, name: 'late.jpg' }));
  t.equal(response.statusCode, 422, 'refused at commit');
  t.same(await rows(), [], 'no row');
  t.same(await filesUnder(storageDir), [], 'the committed blob was removed');
});

t.test('an upload cut midway (the client goes away) leaves neither row nor blob', async (t) => {
  const { app, storageDir, patient, token, rows } = await setup(t);
  const patientId = await patient();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as net.AddressInfo;
  const { headers, payload } = await multipart(form(patientId, { bytes: Buffer.alloc(MAX_BYTES - 1000, 'a'), name: 'a.txt' }));
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    `POST /api/v1/clinics/clinic-a/files HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${await token('doctor')}\r\n` +
      `content-type: ${headers['content-type']}\r\ncontent-length: ${payload.length}\r\n\r\n`,
  );
  socket.write(payload.subarray(0, payload.length / 2));
  t.match(
    await eventually(
      () => filesUnder(storageDir),
      (files) => files.length > 0,
    ),
    [/^\.staging\/.+\.part$/],
    'half an upload, staged',
  );
  socket.destroy();
  t.same(
    await eventually(
      () => filesUnder(storageDir),
      (files) => files.length === 0,
    ),
    [],
    'the staged half is gone',
  );
  t.same(await rows(), [], 'no row');
});

t.test('a row whose blob is missing is a 500, logged, never the bytes of something else', async (t) => {
  const { db, clinics, patient, get, logs } = await setup(t);
  const patientId = await patient();
  const { rows } = await db.admin.query<{ id: string }>(
    `insert into app_public.files (clinic_id, patient_id, category, original_name, content_type, size_bytes, sha256, uploaded_by)
     values ($1, $2, 'other', 'lost.pdf', 'application/pdf', 10, $3, $4) returning id`,
    [clinics.a, patientId, 'd'.repeat(64), actorIn(db, clinics.a, 'doctor').member],
  );
  const response = await get('doctor', `/${rows[0]!.id}/content`);
  t.equal(response.statusCode, 500);
  t.equal(response.json().code, 'INTERNAL');
  t.ok(
    logs().some((line) => line.msg === 'a file row without its blob' && line.fileId === rows[0]!.id),
    'logged with the file id',
  );
});

t.test('Content-Disposition: the name as an attachment, never a header break, a quote or a folder', async (t) => {
  const cases: [string, string][] = [
    ['report.pdf', `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`],
    ['Résumé "final"; v2.pdf', `attachment; filename="R_sum_ final; v2.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20final%3B%20v2.pdf`],
    ['scan\r\nSet-Cookie: a=b.pdf', `attachment; filename="scanSet-Cookie: a=b.pdf"; filename*=UTF-8''scanSet-Cookie%3A%20a%3Db.pdf`],
    ['..\\..\\evil/../x.txt', `attachment; filename="....evil..x.txt"; filename*=UTF-8''....evil..x.txt`],
    ["it's (1)*.png", `attachment; filename="it's (1)*.png"; filename*=UTF-8''it%27s%20%281%29%2A.png`],
    ['心臓.txt', `attachment; filename="__.txt"; filename*=UTF-8''%E5%BF%83%E8%87%93.txt`],
    ['\u0000\u0007"\u007f\u0085', `attachment; filename="download"; filename*=UTF-8''download`],
  ];
  for (const [name, expected] of cases) t.equal(attachmentDisposition(name), expected, JSON.stringify(name));

  // Over HTTP, from a row whose name no upload would accept (written by another path).
  const { db, clinics, app, patient, get } = await setup(t);
  const patientId = await patient();
  const { rows } = await db.admin.query<{ id: string }>(
    `insert into app_public.files (clinic_id, patient_id, category, original_name, content_type, size_bytes, sha256, uploaded_by)
     values ($1, $2, 'other', $3, 'text/plain', 3, $4, $5) returning id`,
    [clinics.a, patientId, 'a\r\nb".txt', sha256(Buffer.from('abc')), actorIn(db, clinics.a, 'doctor').member],
  );
  await app.storage.put(storageKey(clinics.a, rows[0]!.id), [Buffer.from('abc')]);
  const response = await get('doctor', `/${rows[0]!.id}/content`);
  t.equal(response.headers['content-disposition'], `attachment; filename="ab.txt"; filename*=UTF-8''ab.txt`);
  t.equal(response.body, 'abc');
});
