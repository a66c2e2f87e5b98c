// Prescriptions through GraphQL: read-only, as REST reads them. A doctor reads a prescription with
// its items and acknowledged allergies (each read recorded in the chart access log, like REST's); a
// patient reads their own issued ones and never a draft; no mutation writes or issues one.
import t from 'tap';
import { allergyOf, consultationFor } from '../helpers/clinical.ts';
import { graphql } from '../helpers/graphql.ts';
import { frontDesk } from '../helpers/visits.ts';
import { actorIn } from '../helpers/actors.ts';

const desk = await frontDesk(t);
const { app, db, clinics } = desk;
const doctorToken = await desk.token('doctor');
const ITEM = { medicineName: 'Penicillin V', doseForm: 'tablet', dose: '250 mg', frequency: 'QID', route: 'oral', quantity: 28 };

const patient = await desk.patient('a', 'Graph Patient');
await db.admin.query('update app_public.patients set member_id = $2 where id = $1', [patient, actorIn(db, clinics.a, 'patient').member]);
const allergy = await allergyOf(db, clinics.a, patient, 'Penicillin');
const consultation = await consultationFor(db, clinics.a, patient, desk.doctor());
const post = (path: string, payload: object, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: desk.url(`/prescriptions${path}`), headers: { authorization: `Bearer ${doctorToken}`, ...headers }, payload });
const issuedId = (await post('', { consultationId: consultation, items: [ITEM] })).json().id as string;
await post(`/${issuedId}/issue`, { allergyAcknowledgements: [{ allergyId: allergy, note: 'Desensitised' }] }, { 'if-match': '"1"' });
const draftId = (await post('', { consultationId: consultation, items: [ITEM] })).json().id as string;

const ONE = `query ($id: UUID!) { prescription(rowId: $id) {
  status prescriptionNumber
  items { nodes { medicineName dose } }
  allergyAcknowledgements { nodes { note allergyId } }
} }`;

t.test('a doctor reads one with its items and acknowledgements; the read is recorded', async (t) => {
  const before = Number((await db.admin.query('select count(*) from app_public.patient_access_log where patient_id = $1', [patient])).rows[0].count);
  const result = await graphql<{
    prescription: { status: string; prescriptionNumber: string; items: { nodes: unknown[] }; allergyAcknowledgements: { nodes: unknown[] } };
  }>(app, doctorToken, { query: ONE, variables: { id: issuedId } });
  t.same(result.errors, undefined);
  t.equal(result.data?.prescription.status, 'issued');
  t.match(result.data?.prescription.prescriptionNumber, /^RX-\d{4}-\d{5}$/);
  t.same(result.data?.prescription.items.nodes, [{ medicineName: 'Penicillin V', dose: '250 mg' }]);
  t.same(result.data?.prescription.allergyAcknowledgements.nodes, [{ note: 'Desensitised', allergyId: allergy }]);
  const after = Number((await db.admin.query('select count(*) from app_public.patient_access_log where patient_id = $1', [patient])).rows[0].count);
  t.ok(after > before, `recorded (${after - before} rows)`);
});

t.test('the patient reads their issued prescription, never the draft', async (t) => {
  const token = await desk.token('patient');
  const issued = await graphql<{ prescription: { status: string } | null }>(app, token, {
    query: 'query ($id: UUID!) { prescription(rowId: $id) { status } }',
    variables: { id: issuedId },
  });
  t.equal(issued.data?.prescription?.status, 'issued');
  const draft = await graphql<{ prescription: { status: string } | null }>(app, token, {
    query: 'query ($id: UUID!) { prescription(rowId: $id) { status } }',
    variables: { id: draftId },
  });
  t.equal(draft.data?.prescription, null);
});

t.test('no mutation writes, issues or changes a prescription', async (t) => {
  const result = await graphql<{ __schema: { mutationType: { fields: { name: string }[] } | null } }>(
    app,
    doctorToken,
    '{ __schema { mutationType { fields { name } } } }',
  );
  const names = (result.data?.__schema.mutationType?.fields ?? []).map((f) => f.name).filter((name) => /prescription/i.test(name));
  t.same(names, []);
});
