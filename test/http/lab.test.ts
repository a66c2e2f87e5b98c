// The lab over HTTP against the real app and database (issue 11, point 5): a doctor's request, the
// technician's moves, a report with results and its file, the release (If-Match) that locks the
// report, completes the request and writes the outbox, and what each role then reads. Footnote 3:
// the technician sees the patient's identity only, and only while a request is open. Expected
// values are written out here, never computed by the code under test.
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { graphql } from '../helpers/graphql.ts';
import { labClinics } from '../helpers/lab-fixtures.ts';
import { createOperator } from '../helpers/people.ts';
import { ACCEPTED } from '../helpers/sample-files.ts';

const RESULTS = [
  { analyte: 'Haemoglobin', valueNumeric: 135, unit: 'g/L', referenceLow: 120, referenceHigh: 160 },
  { analyte: 'Potassium', valueNumeric: 2.4, unit: 'mmol/L', referenceLow: 3.5, referenceHigh: 5.1, criticalLow: 2.5, criticalHigh: 6.5 },
  { analyte: 'Sodium', valueNumeric: 150, unit: 'mmol/L', referenceLow: 135, referenceHigh: 145 },
  { analyte: 'Blood culture', valueText: 'no growth' },
];

t.test('a test from request to released report, end to end', async (t) => {
  const lab = await labClinics(t);
  const patientId = await lab.patient('a', { own: true, phone: '+44 20 7946 0001', address: '1 Lab Street' });
  const consultationId = await lab.consultation(patientId);

  // The doctor requests.
  const created = await lab.call('doctor', 'POST', '/test-requests', {
    consultationId,
    testName: 'Urea and electrolytes',
    testCode: 'U-E',
    category: 'biochemistry',
    urgency: 'stat',
    requiredBy: '2030-01-31',
    clinicalNote: 'On diuretics.\nCheck potassium.',
  });
  t.equal(created.statusCode, 201, created.body);
  const request = created.json();
  t.match(request, {
    consultationId,
    patientId,
    requestedBy: lab.member('doctor').member,
    testName: 'Urea and electrolytes',
    testCode: 'U-E',
    category: 'biochemistry',
    urgency: 'stat',
    requiredBy: '2030-01-31',
    clinicalNote: 'On diuretics.\nCheck potassium.',
    status: 'requested',
    collectedAt: null,
  });

  // The technician's worklist: the patient's identity, nothing else of them (footnote 3).
  const worklist = await lab.call('lab_technician', 'GET', '/test-requests?status=requested');
  t.equal(worklist.statusCode, 200);
  t.equal(worklist.json().items.length, 1);
  const seen = worklist.json().items[0];
  t.same(Object.keys(seen.patient).sort(), ['dateOfBirth', 'fullName', 'id', 'patientNumber', 'sex']);
  t.match(seen.patient, { id: patientId, fullName: 'Lab Patient 1', dateOfBirth: '1985-06-15', sex: 'female', patientNumber: /^PT-\d{4}-\d{5}$/ });
  t.notOk(JSON.stringify(worklist.json()).includes('Lab Street'), 'no address');
  t.notOk(JSON.stringify(worklist.json()).includes('7946'), 'no phone');
  t.notOk(JSON.stringify(worklist.json()).includes('Tired for weeks'), 'nothing of the consultation');
  t.equal((await lab.call('lab_technician', 'GET', `/patients/${patientId}`)).statusCode, 403, 'the patient record is not the lab’s');

  // The moves, stamped by the database.
  const collected = await lab.call('lab_technician', 'POST', `/test-requests/${request.id}/collect`);
  t.equal(collected.statusCode, 200, collected.body);
  t.equal(collected.json().status, 'collected');
  t.ok(collected.json().collectedAt);
  const started = await lab.call('lab_technician', 'POST', `/test-requests/${request.id}/start`);
  t.equal(started.json().status, 'in_progress');
  t.ok(started.json().startedAt);

  // The report: a draft with its results, flagged by the database.
  const drafted = await lab.call('lab_technician', 'POST', '/test-reports', { testRequestId: request.id, conclusion: 'Hypokalaemia.', results: RESULTS });
  t.equal(drafted.statusCode, 201, drafted.body);
  t.equal(drafted.headers.etag, '"1"');
  const report = drafted.json();
  t.match(report, {
    testRequestId: request.id,
    patientId,
    technicianId: lab.member('lab_technician').member,
    status: 'draft',
    version: 1,
    releasedAt: null,
    fileId: null,
  });
  t.same(
    report.results.map((r: { position: number; analyte: string; flag: string | null }) => [r.position, r.analyte, r.flag]),
    [
      [1, 'Haemoglobin', 'normal'],
      [2, 'Potassium', 'critical_low'],
      [3, 'Sodium', 'high'],
      [4, 'Blood culture', null],
    ],
  );
  t.equal(report.results[1].valueNumeric, 2.4);

  // Its file, through the files module's storage and table.
  const attached = await lab.uploadReportFile(report.id, ACCEPTED.pdf.bytes, 'u-and-e.pdf', { 'if-match': '"1"' });
  t.equal(attached.statusCode, 200, attached.body);
  t.equal(attached.headers.etag, '"2"');
  const fileId = attached.json().fileId;
  const { rows: files } = await lab.db.admin.query('select patient_id, category, uploaded_by, sha256 from app_public.files where id = $1', [fileId]);
  t.same(files, [{ patient_id: patientId, category: 'report', uploaded_by: lab.member('lab_technician').member, sha256: ACCEPTED.pdf.sha256 }]);

  // Release needs If-Match, the current one.
  const noMatch = await lab.call('lab_technician', 'POST', `/test-reports/${report.id}/release`);
  t.equal(noMatch.statusCode, 428);
  t.equal(noMatch.json().code, 'PRECONDITION_REQUIRED');
  const stale = await lab.call('lab_technician', 'POST', `/test-reports/${report.id}/release`, undefined, { 'if-match': '"1"' });
  t.equal(stale.statusCode, 409);
  t.equal(stale.json().code, 'VERSION_CONFLICT');
  const released = await lab.call('lab_technician', 'POST', `/test-reports/${report.id}/release`, undefined, { 'if-match': '"2"' });
  t.equal(released.statusCode, 200, released.body);
  t.equal(released.headers.etag, '"3"');
  t.equal(released.json().status, 'released');
  t.ok(released.json().releasedAt);

  // The request is completed by it; the outbox has the doctor's (critical) and the patient's messages, ids only.
  const after = await lab.call('doctor', 'GET', `/test-requests/${request.id}`);
  t.equal(after.json().status, 'completed');
  t.ok(after.json().completedAt);
  const { rows: outbox } = await lab.db.admin.query(`select kind, recipient, payload from app_private.notification_outbox where kind like 'lab%' order by id`);
  t.same(outbox, [
    {
      kind: 'lab_report_released',
      recipient: lab.emailOf('doctor'),
      payload: { audience: 'doctor', clinic_id: lab.clinics.a, test_report_id: report.id, test_request_id: request.id, critical: true },
    },
    {
      kind: 'lab_report_released',
      recipient: lab.emailOf('patient'),
      payload: { audience: 'patient', clinic_id: lab.clinics.a, test_report_id: report.id, test_request_id: request.id },
    },
  ]);

  // Locked: no change through the API.
  const locked = await lab.call('lab_technician', 'PATCH', `/test-reports/${report.id}`, { conclusion: 'Changed.' }, { 'if-match': '"3"' });
  t.equal(locked.statusCode, 409);
  t.match(locked.json(), { code: 'RECORD_LOCKED', rule: 'test_report_released_is_final' });
  const lockedFile = await lab.uploadReportFile(report.id, ACCEPTED.pdf.bytes, 'again.pdf', { 'if-match': '"3"' });
  t.equal(lockedFile.statusCode, 409);
  t.match(lockedFile.json(), { code: 'RECORD_LOCKED', rule: 'test_report_released_is_final' });

  // The doctor reads the result; the read is in the chart access log.
  const read = await lab.call('doctor', 'GET', `/test-reports/${report.id}`);
  t.equal(read.statusCode, 200);
  t.equal(read.headers.etag, '"3"');
  t.equal(read.json().results[1].flag, 'critical_low');
  const download = await lab.call('doctor', 'GET', `/files/${fileId}/content`);
  t.equal(download.statusCode, 200);
  t.same(download.rawPayload, ACCEPTED.pdf.bytes);
  const { rows: log } = await lab.db.admin.query(
    `select patient_id, member_id from app_public.patient_access_log where action = 'read_lab' order by accessed_at, id`,
  );
  t.same(log.at(-1), { patient_id: patientId, member_id: lab.member('doctor').member });
  t.ok(
    log.some((row) => row.member_id === lab.member('lab_technician').member),
    "the technician's worklist read is recorded too",
  );

  // The patient reads their released report (footnote 7) and their request.
  const own = await lab.call('patient', 'GET', `/test-reports?patientId=${patientId}`);
  t.equal(own.statusCode, 200);
  t.same(
    own.json().items.map((r: { id: string }) => r.id),
    [report.id],
  );

  // The request is closed: the technician no longer sees who the patient is.
  const closed = await lab.call('lab_technician', 'GET', `/test-requests/${request.id}`);
  t.equal(closed.statusCode, 200);
  t.equal(closed.json().patient, null);
});

t.test('every write that answers a request or a report records one read_lab of its patient, by the caller', async (t) => {
  const lab = await labClinics(t);
  const patientId = await lab.patient('a');
  const consultationId = await lab.consultation(patientId);
  const doctor = lab.member('doctor').member;
  const technician = lab.member('lab_technician').member;
  /** The response, and the rows the call added to the chart access log. */
  const logged = async (call: () => Promise<LightMyRequestResponse>) => {
    const { rows: before } = await lab.db.admin.query<{ id: string }>('select id from app_public.patient_access_log');
    const response = await call();
    const { rows } = await lab.db.admin.query('select patient_id, member_id, action, file_id from app_public.patient_access_log where id <> all($1::uuid[])', [
      before.map((row) => row.id),
    ]);
    return { response, rows };
  };
  const oneRead = (member: string) => [{ patient_id: patientId, member_id: member, action: 'read_lab', file_id: null }];

  const created = await logged(() => lab.call('doctor', 'POST', '/test-requests', { consultationId, testName: 'FBC', category: 'haematology' }));
  t.equal(created.response.statusCode, 201, created.response.body);
  t.same(created.rows, oneRead(doctor), 'POST /test-requests');
  const requestId = created.response.json().id;

  const collected = await logged(() => lab.call('lab_technician', 'POST', `/test-requests/${requestId}/collect`));
  t.equal(collected.response.statusCode, 200, collected.response.body);
  t.same(collected.rows, oneRead(technician), 'POST /test-requests/{id}/collect');

  const started = await logged(() => lab.call('lab_technician', 'POST', `/test-requests/${requestId}/start`));
  t.equal(started.response.statusCode, 200, started.response.body);
  t.same(started.rows, oneRead(technician), 'POST /test-requests/{id}/start');

  const drafted = await logged(() => lab.call('lab_technician', 'POST', '/test-reports', { testRequestId: requestId, results: [RESULTS[0]] }));
  t.equal(drafted.response.statusCode, 201, drafted.response.body);
  t.same(drafted.rows, oneRead(technician), 'POST /test-reports');
  const reportId = drafted.response.json().id;

  const patched = await logged(() => lab.call('lab_technician', 'PATCH', `/test-reports/${reportId}`, { conclusion: 'Normal.' }, { 'if-match': '"1"' }));
  t.equal(patched.response.statusCode, 200, patched.response.body);
  t.same(patched.rows, oneRead(technician), 'PATCH /test-reports/{id}');

  const filed = await logged(() => lab.uploadReportFile(reportId, ACCEPTED.pdf.bytes, 'fbc.pdf', { 'if-match': '"2"' }));
  t.equal(filed.response.statusCode, 200, filed.response.body);
  t.same(filed.rows, oneRead(technician), 'POST /test-reports/{id}/file');

  const released = await logged(() => lab.call('lab_technician', 'POST', `/test-reports/${reportId}/release`, undefined, { 'if-match': '"3"' }));
  t.equal(released.response.statusCode, 200, released.response.body);
  t.same(released.rows, oneRead(technician), 'POST /test-reports/{id}/release');

  const second = (await lab.call('doctor', 'POST', '/test-requests', { consultationId, testName: 'CRP', category: 'biochemistry' })).json();
  const cancelled = await logged(() => lab.call('doctor', 'POST', `/test-requests/${second.id}/cancel`));
  t.equal(cancelled.response.statusCode, 200, cancelled.response.body);
  t.same(cancelled.rows, oneRead(doctor), 'POST /test-requests/{id}/cancel');

  // A refused write answers nothing and records nothing.
  const stale = await logged(() => lab.call('lab_technician', 'PATCH', `/test-reports/${reportId}`, { conclusion: 'Late.' }, { 'if-match': '"3"' }));
  t.equal(stale.response.statusCode, 409);
  t.same(stale.rows, [], 'a locked report: no read');
  const unknownMove = await logged(() => lab.call('lab_technician', 'POST', `/test-requests/${randomUUID()}/collect`));
  t.equal(unknownMove.response.statusCode, 404);
  t.same(unknownMove.rows, [], 'an unknown request: no read');
});

t.test('a report without a critical value; a patient without e-mail gets no message', async (t) => {
  const lab = await labClinics(t);
  const patientId = await lab.patient('a');
  const request = (
    await lab.call('doctor', 'POST', '/test-requests', { consultationId: await lab.consultation(patientId), testName: 'FBC', category: 'haematology' })
  ).json();
  await lab.call('lab_technician', 'POST', `/test-requests/${request.id}/collect`);
  await lab.call('lab_technician', 'POST', `/test-requests/${request.id}/start`);
  const report = (await lab.call('lab_technician', 'POST', '/test-reports', { testRequestId: request.id, results: [RESULTS[0]] })).json();
  const released = await lab.call('lab_technician', 'POST', `/test-reports/${report.id}/release`, undefined, { 'if-match': '"1"' });
  t.equal(released.statusCode, 200, released.body);
  const { rows } = await lab.db.admin.query(
    `select recipient, payload->>'critical' as critical from app_private.notification_outbox where kind = 'lab_report_released'`,
  );
  t.same(rows, [{ recipient: lab.emailOf('doctor'), critical: 'false' }]);
});

t.test('the state machine answers 409 naming its rule', async (t) => {
  const lab = await labClinics(t);
  const patientId = await lab.patient('a');
  const consultationId = await lab.consultation(patientId);
  const request = (await lab.call('doctor', 'POST', '/test-requests', { consultationId, testName: 'FBC', category: 'haematology' })).json();
  const refused = async (role: 'doctor' | 'lab_technician', path: string, rule: string, code = 'INVALID_TRANSITION') => {
    const response = await lab.call(role, 'POST', path);
    t.equal(response.statusCode, 409, `${role} ${path}`);
    t.match(response.json(), { code, rule }, `${role} ${path}`);
  };
  await refused('doctor', `/test-requests/${request.id}/collect`, 'test_request_lab_moves_by_technician');
  await refused('lab_technician', `/test-requests/${request.id}/start`, 'test_request_status_flow');
  await refused('lab_technician', `/test-requests/${request.id}/cancel`, 'test_request_cancel_by_doctor');

  // A report cannot be released before the test is started, nor without results (a 400 first).
  const report = (await lab.call('lab_technician', 'POST', '/test-reports', { testRequestId: request.id, results: [RESULTS[0]] })).json();
  const early = await lab.call('lab_technician', 'POST', `/test-reports/${report.id}/release`, undefined, { 'if-match': '"1"' });
  t.equal(early.statusCode, 409);
  t.match(early.json(), { code: 'INVALID_TRANSITION', rule: 'test_report_release_needs_started_request' });
  const second = await lab.call('lab_technician', 'POST', '/test-reports', { testRequestId: request.id, results: [RESULTS[0]] });
  t.equal(second.statusCode, 409, 'one report per request');
  t.equal(second.json().code, 'CONFLICT');

  // Cancelled by the doctor: final.
  const cancelled = await lab.call('doctor', 'POST', `/test-requests/${request.id}/cancel`);
  t.equal(cancelled.statusCode, 200);
  t.equal(cancelled.json().status, 'cancelled');
  t.ok(cancelled.json().cancelledAt);
  await refused('lab_technician', `/test-requests/${request.id}/collect`, 'test_request_closed_is_final', 'RECORD_LOCKED');
  await refused('doctor', `/test-requests/${request.id}/cancel`, 'test_request_closed_is_final', 'RECORD_LOCKED');
});

t.test('bad input is a 400 naming the field; other clinics’ ids are unknown', async (t) => {
  const lab = await labClinics(t);
  const patientId = await lab.patient('a');
  const consultationId = await lab.consultation(patientId);
  const bad = async (role: 'doctor' | 'lab_technician', path: string, body: object, field: string) => {
    const response = await lab.call(role, 'POST', path, body);
    t.equal(response.statusCode, 400, `${field}: ${response.body}`);
    t.ok(
      response.json().errors.some((e: { path: string }) => e.path === field),
      `${field} named`,
    );
  };
  await bad('doctor', '/test-requests', { consultationId, testName: 'FBC', category: 'astrology' }, 'body.category');
  await bad('doctor', '/test-requests', { consultationId, testName: '', category: 'other' }, 'body.testName');
  await bad('doctor', '/test-requests', { consultationId, testName: 'FBC', category: 'other', requiredBy: 'tomorrow' }, 'body.requiredBy');
  await bad('doctor', '/test-requests', { consultationId: 'nope', testName: 'FBC', category: 'other' }, 'body.consultationId');
  const request = (await lab.call('doctor', 'POST', '/test-requests', { consultationId, testName: 'FBC', category: 'haematology' })).json();
  await bad('lab_technician', '/test-reports', { testRequestId: request.id, results: [] }, 'body.results');
  await bad('lab_technician', '/test-reports', { testRequestId: request.id, results: [{ analyte: 'Hb' }] }, 'body.results.0.valueNumeric');
  await bad(
    'lab_technician',
    '/test-reports',
    { testRequestId: request.id, results: [{ analyte: 'Hb', valueNumeric: 1, valueText: 'one' }] },
    'body.results.0.valueNumeric',
  );

  // The database's ranges are a 422, never a 500.
  const inverted = await lab.call('lab_technician', 'POST', '/test-reports', {
    testRequestId: request.id,
    results: [{ analyte: 'Hb', valueNumeric: 130, referenceLow: 160, referenceHigh: 120 }],
  });
  t.equal(inverted.statusCode, 422, inverted.body);
  // The check is test_results_reference_low_valid: it names the low bound (not a "referenceRange" no
  // body has); the database cannot tell which result, so the path is the column's, not results.N's.
  t.same(
    inverted.json().errors.map((e: { path: string }) => e.path),
    ['body.referenceLow'],
    'an inverted reference range names body.referenceLow',
  );
  const criticalInside = await lab.call('lab_technician', 'POST', '/test-reports', {
    testRequestId: request.id,
    results: [{ analyte: 'K', valueNumeric: 4, referenceLow: 3.5, referenceHigh: 5.1, criticalLow: 4.0, criticalHigh: 6.5 }],
  });
  t.equal(criticalInside.statusCode, 422, criticalInside.body);
  t.same(
    criticalInside.json().errors.map((e: { path: string }) => e.path),
    ['body.criticalLow'],
    'a critical low inside the reference range names body.criticalLow',
  );

  // Clinic B's consultation and request, and unknown ids.
  const theirPatient = await lab.patient('b');
  const theirConsultation = await lab.consultation(theirPatient, 'b');
  const foreign = await lab.call('doctor', 'POST', '/test-requests', { consultationId: theirConsultation, testName: 'FBC', category: 'other' });
  t.equal(foreign.statusCode, 422);
  t.same(foreign.json().errors, [{ path: 'body.consultationId', message: 'refers to something that does not exist' }]);
  const theirRequest = (
    await lab.call('doctor', 'POST', '/test-requests', { consultationId: theirConsultation, testName: 'FBC', category: 'other' }, {}, 'b')
  ).json();
  for (const path of [`/test-requests/${theirRequest.id}`, `/test-requests/${randomUUID()}`, `/test-reports/${randomUUID()}`]) {
    t.equal((await lab.call('doctor', 'GET', path)).statusCode, 404, path);
  }
  t.equal((await lab.call('lab_technician', 'POST', `/test-requests/${theirRequest.id}/collect`)).statusCode, 404);
  const foreignReport = await lab.call('lab_technician', 'POST', '/test-reports', { testRequestId: theirRequest.id, results: [RESULTS[0]] });
  t.equal(foreignReport.statusCode, 422);
  t.same(foreignReport.json().errors, [{ path: 'body.testRequestId', message: 'refers to something that does not exist' }]);
});

t.test('two technicians’ edits of one draft: the second is a 409, not a silent overwrite', async (t) => {
  const lab = await labClinics(t, { poolSize: 4 });
  const patientId = await lab.patient('a');
  const request = (
    await lab.call('doctor', 'POST', '/test-requests', { consultationId: await lab.consultation(patientId), testName: 'FBC', category: 'haematology' })
  ).json();
  const report = (await lab.call('lab_technician', 'POST', '/test-reports', { testRequestId: request.id, results: [RESULTS[0]] })).json();
  const edits = await Promise.all(
    ['First.', 'Second.', 'Third.'].map((conclusion) =>
      lab.call('lab_technician', 'PATCH', `/test-reports/${report.id}`, { conclusion }, { 'if-match': '"1"' }),
    ),
  );
  t.same(edits.map((r) => r.statusCode).sort(), [200, 409, 409]);
  t.same(
    edits.filter((r) => r.statusCode === 409).map((r) => r.json().code),
    ['VERSION_CONFLICT', 'VERSION_CONFLICT'],
  );
  const winner = edits.find((r) => r.statusCode === 200)!.json();
  const now = await lab.call('doctor', 'GET', `/test-reports/${report.id}`);
  t.equal(now.json().conclusion, winner.conclusion);
  t.equal(now.headers.etag, '"2"');

  // A PATCH corrects results position by position and keeps the flag the database's.
  const corrected = await lab.call(
    'lab_technician',
    'PATCH',
    `/test-reports/${report.id}`,
    { results: [{ ...RESULTS[0], valueNumeric: 110 }, RESULTS[2]] },
    { 'if-match': '"2"' },
  );
  t.equal(corrected.statusCode, 200, corrected.body);
  t.same(
    corrected.json().results.map((r: { analyte: string; valueNumeric: number; flag: string }) => [r.analyte, r.valueNumeric, r.flag]),
    [
      ['Haemoglobin', 110, 'low'],
      ['Sodium', 150, 'high'],
    ],
  );
  // Only the report's own technician: another lab technician of the clinic is refused.
  const { rows } = await lab.db.admin.query(
    `with account as (insert into app_private.accounts (email, password_hash) values ('second-lab@example.test', '$argon2id$v=19$x') returning id)
     insert into app_public.clinic_members (clinic_id, account_id, role, display_name) select $1, id, 'lab_technician', 'Second Lab' from account returning account_id`,
    [lab.clinics.a],
  );
  const otherToken = await lab.client.clinicToken('lab_technician', { id: lab.clinics.a, slug: 'clinic-a' }, rows[0].account_id);
  const other = await lab.app.inject({
    method: 'PATCH',
    url: `/api/v1/clinics/clinic-a/test-reports/${report.id}`,
    headers: { authorization: `Bearer ${otherToken}`, 'if-match': '"3"' },
    payload: { conclusion: 'Not mine.' },
  });
  t.equal(other.statusCode, 403);
});

t.test('GraphQL: the lab reads its records, never a patient through them; the reads are recorded', async (t) => {
  const lab = await labClinics(t);
  const patientId = await lab.patient('a', { phone: '+44 20 7946 0003', address: '3 Lab Lane' });
  const request = (
    await lab.call('doctor', 'POST', '/test-requests', { consultationId: await lab.consultation(patientId), testName: 'FBC', category: 'haematology' })
  ).json();
  await lab.call('lab_technician', 'POST', `/test-requests/${request.id}/collect`);
  await lab.call('lab_technician', 'POST', `/test-requests/${request.id}/start`);
  await lab.call('lab_technician', 'POST', '/test-reports', { testRequestId: request.id, results: [RESULTS[1]] });
  const technician = await lab.token('lab_technician');
  const read = await graphql<{
    testRequests: { nodes: { rowId: string; testName: string; clinicalNote: string | null; patientId: string }[] };
    testReports: { nodes: { testRequest: { testName: string }; technician: { displayName: string } }[] };
    patients: { nodes: unknown[] };
  }>(
    lab.app,
    technician,
    `{ testRequests { nodes { rowId testName clinicalNote patientId } }
       testReports { nodes { testRequest { testName } technician { displayName } } }
       patients { nodes { rowId fullName phone address } } }`,
  );
  t.equal(read.errors, undefined, JSON.stringify(read.errors));
  t.same(read.data?.testRequests.nodes, [{ rowId: request.id, testName: 'FBC', clinicalNote: null, patientId }]);
  t.same(read.data?.testReports.nodes, [{ testRequest: { testName: 'FBC' }, technician: { displayName: 'Actor lab_technician' } }]);
  t.same(read.data?.patients.nodes, [], 'no patient row for the lab through GraphQL');
  t.notOk(JSON.stringify(read.data).includes('Lab Lane'));
  const { rows } = await lab.db.admin.query(
    `select patient_id, member_id from app_public.patient_access_log where action = 'read_lab' and request_id is not null order by accessed_at, id`,
  );
  t.ok(
    rows.some((row) => row.patient_id === patientId && row.member_id === lab.member('lab_technician').member),
    "the technician's GraphQL read is recorded as read_lab",
  );
  // No mutation for the lab's workflow.
  const mutation = await graphql(
    lab.app,
    technician,
    `mutation { updateTestReport(input: { rowId: "${request.id}", patch: { conclusion: "x" } }) { clientMutationId } }`,
  );
  t.ok(mutation.errors?.length, 'no updateTestReport mutation');
});

t.test('a read under a support grant is recorded naming the grant; an ended grant answers no data', async (t) => {
  const lab = await labClinics(t);
  const patientId = await lab.patient('a');
  const request = (
    await lab.call('doctor', 'POST', '/test-requests', { consultationId: await lab.consultation(patientId), testName: 'FBC', category: 'haematology' })
  ).json();
  const operator = await createOperator(lab.db, 'ops@example.test', 'a long and correct password');
  const { rows } = await lab.db.admin.query<{ id: string }>(
    `insert into app_public.support_access_grants (clinic_id, operator_account_id, granted_by, reason, expires_at)
     values ($1, $2, $3, 'Ticket 7', now() + interval '1 hour') returning id`,
    [lab.clinics.a, operator, lab.member('clinic_admin').account],
  );
  const grant = rows[0]!.id;
  const claims = { sub: operator, clinic_id: lab.clinics.a, clinic_slug: 'clinic-a', role: 'clinic_admin' as const, jti: randomUUID(), amr: ['pwd' as const] };
  const support = await lab.app.signAccessToken({ ...claims, support_grant: grant });
  const get = (url: string) => lab.app.inject({ method: 'GET', url: `/api/v1/clinics/clinic-a${url}`, headers: { authorization: `Bearer ${support}` } });

  const read = await get(`/test-requests/${request.id}`);
  t.equal(read.statusCode, 200, read.body);
  const { rows: log } = await lab.db.admin.query(
    `select patient_id, member_id, support_grant_id from app_public.patient_access_log where action = 'read_lab' order by accessed_at, id`,
  );
  t.same(
    log,
    [
      { patient_id: patientId, member_id: lab.member('doctor').member, support_grant_id: null },
      { patient_id: patientId, member_id: null, support_grant_id: grant },
    ],
    "the doctor's request (its answer), then the support read naming the grant",
  );
  const cancel = await lab.app.inject({
    method: 'POST',
    url: `/api/v1/clinics/clinic-a/test-requests/${request.id}/cancel`,
    headers: { authorization: `Bearer ${support}` },
  });
  t.equal(cancel.statusCode, 403, 'read-only');

  await lab.db.admin.query(
    "update app_public.support_access_grants set expires_at = now() - interval '1 second', created_at = now() - interval '1 hour' where id = $1",
    [grant],
  );
  const ended = await get(`/test-requests?patientId=${patientId}`);
  t.equal(ended.statusCode, 401);
  t.notOk(ended.body.includes('FBC'), 'no data');
});

t.test('one report per request under concurrency: one 201, the others 409', async (t) => {
  const lab = await labClinics(t, { poolSize: 4 });
  const patientId = await lab.patient('a');
  const request = (
    await lab.call('doctor', 'POST', '/test-requests', { consultationId: await lab.consultation(patientId), testName: 'FBC', category: 'haematology' })
  ).json();
  const attempts = await Promise.all(
    [1, 2, 3, 4].map(() => lab.call('lab_technician', 'POST', '/test-reports', { testRequestId: request.id, results: [RESULTS[0]] })),
  );
  t.same(attempts.map((r) => r.statusCode).sort(), [201, 409, 409, 409]);
  t.same(
    attempts.filter((r) => r.statusCode === 409).map((r) => r.json().code),
    ['CONFLICT', 'CONFLICT', 'CONFLICT'],
  );
  const { rows } = await lab.db.admin.query(
    'select count(*)::int as reports, (select count(*)::int from app_public.test_results) as results from app_public.test_reports',
  );
  t.same(rows, [{ reports: 1, results: 1 }], 'the losers left nothing');
});
