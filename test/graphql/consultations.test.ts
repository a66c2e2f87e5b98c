// Consultations through GraphQL: a visit's consultation with its vital signs, diagnoses and
// addenda as relations, every such read recorded in the chart access log like REST's; no mutation
// (opening, editing with If-Match, signing and the children's writes are REST's workflow); a
// patient reads their own signed consultation, never a draft; a receptionist reads none.
import t from 'tap';
import { graphql } from '../helpers/graphql.ts';
import { frontDesk } from '../helpers/visits.ts';

const CHART = `query ($visit: UUID!) { visit(rowId: $visit) { status consultation {
  status findings
  vitals { nodes { heartRateBpm } }
  diagnoses { nodes { icd10Code description } }
  addenda { nodes { body } }
} } }`;

t.test('a visit’s consultation with its children through GraphQL, logged; no mutation', async (t) => {
  const desk = await frontDesk(t);
  const doctor = await desk.token('doctor');
  const patientId = await desk.patient();
  const visit = await desk.checkIn({ patientId, doctorId: desk.doctor() });
  const rest = (method: 'POST' | 'PATCH', path: string, body?: object, ifMatch?: string) =>
    desk.app.inject({
      method,
      url: desk.url(path),
      headers: { authorization: `Bearer ${doctor}`, ...(ifMatch ? { 'if-match': ifMatch } : {}) },
      ...(body ? { payload: body } : {}),
    });
  const c = (await rest('POST', '/consultations', { visitId: visit.id, findings: 'Clear chest' })).json();
  await rest('POST', `/consultations/${c.id}/vitals`, { heartRateBpm: 88 });
  await rest('POST', `/consultations/${c.id}/diagnoses`, { icd10Code: 'J06.9', isPrimary: true });

  const logged = async () =>
    (await desk.db.admin.query(`select count(*)::int as n from app_public.patient_access_log where patient_id = $1 and action = 'read_record'`, [patientId]))
      .rows[0].n as number;
  const before = await logged();
  const read = await graphql(desk.app, doctor, { query: CHART, variables: { visit: visit.id } });
  t.same(read.errors, undefined);
  t.same(read.data, {
    visit: {
      status: 'in_consultation',
      consultation: {
        status: 'draft',
        findings: 'Clear chest',
        vitals: { nodes: [{ heartRateBpm: 88 }] },
        diagnoses: { nodes: [{ icd10Code: 'J06.9', description: 'Acute upper respiratory infection, unspecified' }] },
        addenda: { nodes: [] },
      },
    },
  });
  t.ok((await logged()) > before, 'the read is in the chart access log');

  const receptionist = await graphql(desk.app, await desk.token('receptionist'), { query: CHART, variables: { visit: visit.id } });
  t.equal((receptionist.data as { visit: { consultation: unknown } }).visit.consultation, null, 'a receptionist sees the visit, not its consultation');

  for (const mutation of ['createConsultation', 'updateConsultation', 'createVital', 'createDiagnosis', 'updateDiagnosis', 'createConsultationAddendum']) {
    const attempt = await graphql(desk.app, doctor, `mutation { ${mutation}(input: {}) { clientMutationId } }`);
    t.ok(attempt.errors?.length, `${mutation}: not in the schema`);
  }
});
