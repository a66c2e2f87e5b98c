// `npm run seed:demo`: two demo clinics to try the API on, filled the way the platform fills a real
// one. The embedded cluster under DATA_DIR (as `npm start` uses it; stop the server first, the
// cluster is the server's), or DATABASE_URL + DATABASE_ROLE_PASSWORD.
//
// Nothing is written behind the application's back. The seed builds the application in this
// process and calls its HTTP API (app.inject): a platform operator onboards each clinic, the
// admin accepts the invitation from the outbox and invites the staff, the staff accept theirs,
// the admin sets opening and office hours, the receptionist registers patients, the receptionist
// and the nurse upload a few files, the receptionist books patients into free slots and checks
// them in, the doctors call their queues: the same routes any client calls, so RLS, triggers,
// counters and the audit log see exactly what they would see of real users. The
// database owner only reads the outbox (as `npm run cli -- outbox:pending` does), checks which
// clinics exist and creates the demo operator (as `npm run cli -- operator:create` does).
//
// It refuses a database holding clinics other than demo-north and demo-south or platform operators
// other than its own (its password is printed and public), and refuses to run
// in production. Run twice, it changes nothing and prints the logins again; a seed that stopped
// midway is refused, with what to do. Progress goes to stderr, the logins to stdout.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type pg from 'pg';
import { appConfigFrom, buildApp } from '../src/app.ts';
import { hashPassword } from '../src/auth/passwords.ts';
import { loadSigningKeys } from '../src/auth/keys.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { DataKeyError, loadDataKeys } from '../src/crypto/data-keys.ts';
import { createFieldCipher } from '../src/crypto/field-encryption.ts';
import { EmbeddedPostgresError } from '../src/db/embedded.ts';
import { prepareDatabase } from '../src/db/prepare.ts';
import { withClient } from '../src/db/setup.ts';
import type { ClinicRole } from '../src/db/tenant.ts';
import type { WeeklyHours } from '../src/http/params.ts';
import { appointmentReason, DEMO_CASES, type DemoPatient, demoPatients, demoPdf, demoPng, pick, type Random, randomFrom, walkInPurpose } from './demo-data.ts';

export const PATIENTS_PER_CLINIC = 200;
const OPERATOR = { email: 'operator@demo.clinicbase.test', password: 'demo-platform-operator' };

interface Staff {
  key: string;
  role: ClinicRole;
  displayName: string;
  profile?: { specialisation: string; licenceNumber: string; qualification: string; consultationFee: number; officeHours: WeeklyHours };
}

interface DemoClinic {
  slug: string;
  name: string;
  town: string;
  timezone: string;
  address: string;
  contactPhone: string;
  numberBlock: number;
  operatingHours: WeeklyHours;
  admin: Staff;
  staff: Staff[];
}

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'] as const;
const everyWeekday = (ranges: [string, string][]): WeeklyHours => Object.fromEntries(WEEKDAYS.map((day) => [day, ranges]));

export const DEMO_CLINICS: DemoClinic[] = [
  {
    slug: 'demo-north',
    name: 'Northgate Family Practice (demo)',
    town: 'Northgate',
    timezone: 'Europe/London',
    address: '1 Northgate High Street, Northgate',
    contactPhone: '+44 20 7946 0990',
    numberBlock: 0,
    operatingHours: { ...everyWeekday([['08:00', '18:00']]), sat: [['09:00', '13:00']] },
    admin: { key: 'admin', role: 'clinic_admin', displayName: 'Helen Carter' },
    staff: [
      {
        key: 'doctor',
        role: 'doctor',
        displayName: 'Dr Priya Raman',
        profile: {
          specialisation: 'General practice',
          licenceNumber: 'GMC-7000001',
          qualification: 'MBBS, MRCGP',
          consultationFee: 60,
          officeHours: everyWeekday([
            ['09:00', '13:00'],
            ['14:00', '17:00'],
          ]),
        },
      },
      {
        key: 'doctor2',
        role: 'doctor',
        displayName: 'Dr Tomasz Nowak',
        profile: {
          specialisation: 'Paediatrics',
          licenceNumber: 'GMC-7000002',
          qualification: 'MD, MRCPCH',
          consultationFee: 75,
          officeHours: {
            mon: [['10:00', '16:00']],
            tue: [['10:00', '16:00']],
            wed: [['13:00', '18:00']],
            thu: [['10:00', '16:00']],
            sat: [['09:00', '12:00']],
          },
        },
      },
      { key: 'nurse', role: 'nurse', displayName: 'Grace Okafor' },
      { key: 'receptionist', role: 'receptionist', displayName: 'Sam Whitfield' },
      { key: 'lab', role: 'lab_technician', displayName: 'Kenji Tanaka' },
    ],
  },
  {
    slug: 'demo-south',
    name: 'Southbank Medical Centre (demo)',
    town: 'Southbank',
    timezone: 'Europe/London',
    address: '42 Riverside Walk, Southbank',
    contactPhone: '+44 20 7946 0991',
    numberBlock: 500,
    operatingHours: everyWeekday([['07:30', '19:00']]),
    admin: { key: 'admin', role: 'clinic_admin', displayName: 'Marcus Bell' },
    staff: [
      {
        key: 'doctor',
        role: 'doctor',
        displayName: 'Dr Amara Mensah',
        profile: {
          specialisation: 'Family medicine',
          licenceNumber: 'GMC-7100001',
          qualification: 'MBChB, MRCGP',
          consultationFee: 65,
          officeHours: everyWeekday([['08:00', '14:00']]),
        },
      },
      {
        key: 'doctor2',
        role: 'doctor',
        displayName: 'Dr Luca Rossi',
        profile: {
          specialisation: 'Dermatology',
          licenceNumber: 'GMC-7100002',
          qualification: 'MD, MRCP (Derm)',
          consultationFee: 90,
          officeHours: everyWeekday([['12:00', '19:00']]),
        },
      },
      { key: 'nurse', role: 'nurse', displayName: 'Ewa Kowalska' },
      { key: 'receptionist', role: 'receptionist', displayName: 'Jordan Price' },
      { key: 'lab', role: 'lab_technician', displayName: 'Fatima Ahmed' },
    ],
  },
];

/** A demo login: known e-mail and password, printed at the end. */
export const loginOf = (clinic: { slug: string }, key: string) => ({ email: `${key}@${clinic.slug}.clinicbase.test`, password: `${clinic.slug}-${key}-login` });

interface Session {
  accessToken: string;
  memberId: string;
  role: ClinicRole;
}

interface Login {
  clinic: string;
  role: string;
  email: string;
  password: string;
}

const progress = (message: string) => process.stderr.write(`${message}\n`);

/** An answer other than the one expected, with its problem code. */
class ApiError extends Error {
  readonly code: string | undefined;
  constructor(message: string, response: LightMyRequestResponse) {
    super(message);
    this.code = response.headers['content-type']?.toString().startsWith('application/problem+json') ? response.json().code : undefined;
  }
}

/** The application's API in this process: JSON in, JSON out, any status but the expected one is an error. */
function apiOf(app: FastifyInstance) {
  return async function api<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PATCH',
    url: string,
    token: string | null,
    body?: object,
    expect = 200,
    /** The version a draft's change or move is made against (If-Match). */
    ifMatch?: number,
  ): Promise<T> {
    const response: LightMyRequestResponse = await app.inject({
      method,
      url,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(ifMatch === undefined ? {} : { 'if-match': `"${ifMatch}"` }) },
      ...(body ? { payload: body } : {}),
    });
    if (response.statusCode !== expect) throw new ApiError(`${method} ${url} answered ${response.statusCode}, not ${expect}: ${response.body}`, response);
    return (response.body ? response.json() : undefined) as T;
  };
}
type Api = ReturnType<typeof apiOf>;

// ---------------------------------------------------------------- what the database holds already

type DatabaseState = { kind: 'empty' } | { kind: 'seeded' } | { kind: 'refused'; reason: string };

/** Whether this database is empty of clinics and operators, already seeded by us, or someone else's. */
async function databaseState(owner: pg.Client): Promise<DatabaseState> {
  const demo = DEMO_CLINICS.map((c) => c.slug);
  // The urgent walk-ins are checked in by the last step (today's queue): the morning's visits before it are not the end.
  const { rows } = await owner.query<{ slug: string; patients: number; visits: number; urgent: number }>(
    `select c.slug,
            (select count(*)::int from app_public.patients p where p.clinic_id = c.id) as patients,
            (select count(*)::int from app_public.visits v where v.clinic_id = c.id) as visits,
            (select count(*)::int from app_public.visits v where v.clinic_id = c.id and v.priority = 'urgent') as urgent
     from app_public.clinics c order by c.slug`,
  );
  // A known, printed operator password must never sit beside real operators: they could onboard and read any clinic.
  const { rows: operators } = await owner.query<{ email: string }>(
    `select a.email from app_private.platform_operators o join app_private.accounts a on a.id = o.account_id
     where lower(a.email) <> lower($1) order by a.email`,
    [OPERATOR.email],
  );
  if (operators.length > 0) {
    return {
      kind: 'refused',
      reason:
        `this database has ${operators.length} platform operator(s) besides the demo's (${operators.map((o) => o.email).join(', ')}): ` +
        'seed:demo would add an operator whose password it prints. Use the embedded default (no DATABASE_URL) or an empty database.',
    };
  }
  const foreign = rows.filter((r) => !demo.includes(r.slug));
  if (foreign.length > 0) {
    return {
      kind: 'refused',
      reason:
        `this database holds ${foreign.length} clinic(s) besides the demo's (${foreign.map((r) => r.slug).join(', ')}): ` +
        'seed:demo only fills a database without clinics, or its own demo clinics. Use the embedded default (no DATABASE_URL) or an empty database.',
    };
  }
  if (rows.length === 0) return { kind: 'empty' };
  const complete = rows.length === demo.length && rows.every((r) => r.patients >= PATIENTS_PER_CLINIC && r.urgent >= 2);
  if (complete) return { kind: 'seeded' };
  return {
    kind: 'refused',
    reason:
      `an earlier seed:demo stopped midway (${rows.map((r) => `${r.slug}: ${r.patients} patients, ${r.visits} visits`).join('; ')}). ` +
      'Start again from an empty database: stop the server and remove the embedded cluster (DATA_DIR/pg, by default .data/pg), ' +
      'or drop and recreate the DATABASE_URL database.',
  };
}

// ---------------------------------------------------------------- people and their logins

/** The demo operator, as `npm run cli -- operator:create` makes one (owner rights), unless it exists. */
async function ensureOperator(owner: pg.Client): Promise<void> {
  const { rowCount } = await owner.query(
    'select from app_private.platform_operators o join app_private.accounts a on a.id = o.account_id where lower(a.email) = lower($1)',
    [OPERATOR.email],
  );
  if (rowCount === 0) await owner.query('select app_private.create_platform_operator($1, $2)', [OPERATOR.email, await hashPassword(OPERATOR.password)]);
}

/** The newest invitation token sent to `email`: it reaches people only through the outbox. */
async function invitationToken(owner: pg.Client, email: string): Promise<string> {
  const { rows } = await owner.query<{ token: string }>(
    `select payload->>'token' as token from app_private.notification_outbox
     where kind = 'invitation' and lower(recipient) = lower($1) order by id desc limit 1`,
    [email],
  );
  if (!rows[0]) throw new Error(`no invitation for ${email} in the outbox`);
  return rows[0].token;
}

/** Accepts the invitation sent to `email` with `password`: the member's first session. */
async function accept(api: Api, owner: pg.Client, email: string, password: string): Promise<Session> {
  const token = await invitationToken(owner, email);
  const session = await api<{ accessToken: string; membership: { memberId: string; role: ClinicRole } }>('POST', '/api/v1/auth/invitations/accept', null, {
    token,
    password,
  });
  return { accessToken: session.accessToken, memberId: session.membership.memberId, role: session.membership.role };
}

// ---------------------------------------------------------------- one clinic

interface SeededClinic {
  sessions: Map<string, Session>;
}

/** The platform onboards the clinic; its admin sets it up and invites everyone; everyone accepts. */
async function onboard(api: Api, owner: pg.Client, operatorToken: string, clinic: DemoClinic, logins: Login[]): Promise<SeededClinic> {
  const base = `/api/v1/clinics/${clinic.slug}`;
  const adminLogin = loginOf(clinic, clinic.admin.key);
  await api(
    'POST',
    '/api/v1/platform/clinics',
    operatorToken,
    {
      slug: clinic.slug,
      name: clinic.name,
      timezone: clinic.timezone,
      plan: 'basic',
      address: clinic.address,
      contactPhone: clinic.contactPhone,
      admin: { email: adminLogin.email, displayName: clinic.admin.displayName },
    },
    201,
  );
  const sessions = new Map<string, Session>();
  const admin = await accept(api, owner, adminLogin.email, adminLogin.password);
  sessions.set('admin', admin);
  logins.push({ clinic: clinic.slug, role: 'clinic_admin', ...adminLogin });
  await api('PATCH', `${base}/settings`, admin.accessToken, { operatingHours: clinic.operatingHours, appointmentSlotMinutes: 15 });
  for (const [code, name] of [
    ['GP', 'General practice'],
    ['PAED', 'Paediatrics'],
    ['LAB', 'Laboratory'],
  ]) {
    await api('POST', `${base}/departments`, admin.accessToken, { code, name }, 201);
  }
  for (const member of clinic.staff) {
    const login = loginOf(clinic, member.key);
    await api('POST', `${base}/members/invitations`, admin.accessToken, { email: login.email, role: member.role, displayName: member.displayName }, 201);
    const session = await accept(api, owner, login.email, login.password);
    if (member.profile) await api('PATCH', `${base}/members/${session.memberId}`, admin.accessToken, member.profile);
    sessions.set(member.key, session);
    logins.push({ clinic: clinic.slug, role: member.role, ...login });
  }
  progress(`${clinic.slug}: onboarded, ${sessions.size} members (every role but patient), opening and office hours set`);
  return { sessions };
}

/**
 * The receptionist registers the clinic's patients through POST patients (the registry numbers them
 * and encrypts identification numbers) and records who is in treatment or discharged. A record the
 * registry finds like an earlier one (a similar name, the same date of birth) is a different
 * made-up person: registered anyway, as a receptionist would after checking.
 */
async function registerPatients(api: Api, clinic: DemoClinic, seeded: SeededClinic, patients: DemoPatient[]): Promise<string[]> {
  const base = `/api/v1/clinics/${clinic.slug}/patients`;
  const token = seeded.sessions.get('receptionist')!.accessToken;
  const ids: string[] = [];
  for (const [i, { identification, status, ...fields }] of patients.entries()) {
    const body = { ...fields, identificationType: identification?.type ?? null, identificationNumber: identification?.number ?? null };
    const { id } = await api<{ id: string }>('POST', base, token, body, 201).catch((error: unknown) => {
      if (!(error instanceof ApiError && error.code === 'POSSIBLE_DUPLICATE')) throw error;
      return api<{ id: string }>('POST', base, token, { ...body, allowDuplicate: true }, 201);
    });
    if (status !== 'registered') await api('PATCH', `${base}/${id}`, token, { status });
    ids.push(id);
    if ((i + 1) % 50 === 0) progress(`  ${i + 1}/${patients.length} patients`);
  }
  return ids;
}

/** The portal patient: invited by the admin, linked to their record by the receptionist. */
async function portalPatient(api: Api, owner: pg.Client, clinic: DemoClinic, seeded: SeededClinic, patient: DemoPatient, logins: Login[]): Promise<void> {
  const login = loginOf(clinic, 'patient');
  const admin = seeded.sessions.get('admin')!;
  await api(
    'POST',
    `/api/v1/clinics/${clinic.slug}/members/invitations`,
    admin.accessToken,
    { email: login.email, role: 'patient', displayName: patient.fullName },
    201,
  );
  seeded.sessions.set('patient', await accept(api, owner, login.email, login.password));
  logins.push({ clinic: clinic.slug, role: 'patient', ...login });
}

/** The receptionist links the portal login to the patient's record. */
async function linkPortalPatient(api: Api, clinic: DemoClinic, seeded: SeededClinic, patientId: string): Promise<void> {
  const memberId = seeded.sessions.get('patient')!.memberId;
  await api('PATCH', `/api/v1/clinics/${clinic.slug}/patients/${patientId}`, seeded.sessions.get('receptionist')!.accessToken, { memberId });
}

/** Adds `days` to a YYYY-MM-DD date. */
const addDays = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

/** `time` on `date` on the clinic's wall clock, as an instant with its offset (the API takes no bare local times). */
function wallClock(date: string, time: string, timeZone: string): string {
  // The offset at noon: the clocks change at night, so it holds for the day's working hours.
  const zone = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'longOffset' })
    .formatToParts(new Date(`${date}T12:00:00Z`))
    .find((part) => part.type === 'timeZoneName')!.value;
  return `${date}T${time}:00${zone === 'GMT' ? 'Z' : zone.slice(3)}`;
}

interface Booking {
  id: string;
  patientId: string;
  doctorId: string;
  startsAt: string;
  cancelled: boolean;
}

/**
 * The receptionist blocks an afternoon of the second doctor's (leave), then books about half of
 * each doctor's free slots of the coming week, the portal patient first; a few are cancelled.
 */
async function bookWeek(api: Api, clinic: DemoClinic, seeded: SeededClinic, patientIds: string[], random: Random): Promise<Booking[]> {
  const base = `/api/v1/clinics/${clinic.slug}`;
  const token = seeded.sessions.get('receptionist')!.accessToken;
  const today = clinicToday(clinic.timezone);
  const leaveDay = addDays(today, 2);
  const leave = {
    startsAt: wallClock(leaveDay, '12:00', clinic.timezone),
    endsAt: wallClock(leaveDay, '18:00', clinic.timezone),
    reason: 'Training afternoon',
  };
  await api('POST', `${base}/doctors/${seeded.sessions.get('doctor2')!.memberId}/time-off`, token, leave, 201);
  const booked: Booking[] = [];
  for (const key of ['doctor', 'doctor2']) {
    const doctorId = seeded.sessions.get(key)!.memberId;
    const { slots } = await api<{ slots: { startsAt: string }[] }>(
      'GET',
      `${base}/doctors/${doctorId}/availability?from=${today}&to=${addDays(today, 6)}`,
      token,
    );
    for (const { startsAt } of slots) {
      const first = booked.length === 0;
      if (!first && random() > 0.5) continue;
      const patientId = first ? patientIds[0]! : pick(random, patientIds);
      const { id } = await api<{ id: string }>(
        'POST',
        `${base}/appointments`,
        token,
        { patientId, doctorId, startsAt, reason: appointmentReason(random) },
        201,
      );
      booked.push({ id, patientId, doctorId, startsAt, cancelled: false });
    }
  }
  for (const booking of booked.slice(1).filter(() => random() < 0.04)) {
    await api('POST', `${base}/appointments/${booking.id}/cancel`, token, { reason: 'Patient called to cancel' });
    booking.cancelled = true;
  }
  return booked;
}

/**
 * Today's queue: the receptionist checks in the appointments of the next two hours and a few
 * walk-ins (one urgent each); the first doctor has opened the consultation of the first patient of
 * her queue (the urgent one: a draft), the second has called his. Nobody's consultation in this
 * queue is completed: one that lasted the seed's milliseconds would make the doctor's average, and
 * so every wait estimate, 0 minutes (the second doctor's morning, before, did: his estimate is).
 */
async function todaysQueue(api: Api, clinic: DemoClinic, seeded: SeededClinic, booked: Booking[], patientIds: string[], random: Random): Promise<number> {
  const base = `/api/v1/clinics/${clinic.slug}`;
  const today = clinicToday(clinic.timezone);
  const soon = Date.now() + 2 * 3_600_000;
  const arrivals = [
    ...booked
      .filter((b) => !b.cancelled && Date.parse(b.startsAt) < soon && clinicDate(b.startsAt, clinic.timezone) === today)
      .sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt))
      .map((b) => ({ appointmentId: b.id })),
    ...['doctor', 'doctor2'].flatMap((key) =>
      ['normal', 'normal', 'urgent', 'normal'].map((priority) => ({
        patientId: pick(random, patientIds.slice(1)),
        doctorId: seeded.sessions.get(key)!.memberId,
        purpose: walkInPurpose(random),
        priority,
      })),
    ),
  ];
  // The token of the day is the database's (the counter behind the check-in).
  for (const arrival of arrivals) await api('POST', `${base}/visits`, seeded.sessions.get('receptionist')!.accessToken, arrival, 201);
  const callNext = (key: string) => {
    const doctor = seeded.sessions.get(key)!;
    return api<{ id: string; purpose: string | null }>('POST', `${base}/doctors/${doctor.memberId}/queue/next`, doctor.accessToken);
  };
  // The first doctor opens the consultation (the visit moves to in_consultation): a draft she is writing.
  const first = await callNext('doctor');
  await api('POST', `${base}/consultations`, seeded.sessions.get('doctor')!.accessToken, { visitId: first.id, chiefComplaint: first.purpose }, 201);
  await callNext('doctor2');
  return arrivals.length;
}

/**
 * The second doctor's morning, before today's queue: for each of DEMO_CASES the receptionist checks
 * the patient in, the doctor calls them and opens the consultation, the nurse records an allergy (if
 * any) and the vital signs, the doctor looks up and records the diagnoses, writes the notes and the
 * plan, prescribes and issues (acknowledging the recorded allergy when a medicine matches it),
 * requests a test; the lab technician collects the sample, runs the test, enters the results,
 * attaches the report's file and releases it (the outbox tells the doctor and the patient); the
 * doctor asks for a follow-up and signs, which completes the visit. Signing, issuing and releasing
 * are the API's moves, made against the version last read (If-Match), as a client makes them.
 * Only the second doctor: a consultation signed within the seed's milliseconds counts in the
 * doctor's wait estimate (doctor_wait_estimate: the average of the last 20), so the first doctor,
 * whose queue the README reads, keeps the slot length until her own first consultation.
 */
async function morningConsultations(
  app: FastifyInstance,
  api: Api,
  clinic: DemoClinic,
  seeded: SeededClinic,
  patients: DemoPatient[],
  patientIds: string[],
): Promise<number> {
  const base = `/api/v1/clinics/${clinic.slug}`;
  const token = (key: string) => seeded.sessions.get(key)!.accessToken;
  const doctor = seeded.sessions.get('doctor2')!;
  for (const demo of DEMO_CASES) {
    const patientId = patientIds[demo.patient]!;
    await api('POST', `${base}/visits`, token('receptionist'), { patientId, doctorId: doctor.memberId, purpose: demo.purpose, priority: 'normal' }, 201);
    const visit = await api<{ id: string }>('POST', `${base}/doctors/${doctor.memberId}/queue/next`, doctor.accessToken);
    const consultation = await api<{ id: string; version: number }>(
      'POST',
      `${base}/consultations`,
      doctor.accessToken,
      { visitId: visit.id, ...demo.consultation },
      201,
    );
    const consultationUrl = `${base}/consultations/${consultation.id}`;
    const allergy = demo.allergy
      ? await api<{ id: string }>('POST', `${base}/patients/${patientId}/history`, token('nurse'), { kind: 'allergy', ...demo.allergy }, 201)
      : undefined;
    await api('POST', `${consultationUrl}/vitals`, token('nurse'), demo.vitals, 201);
    for (const [i, diagnosis] of demo.diagnoses.entries()) {
      const found = await api<{ items: { code: string }[] }>('GET', `${base}/icd10?q=${encodeURIComponent(diagnosis.search)}&limit=50`, doctor.accessToken);
      if (!found.items.some((item) => item.code === diagnosis.code))
        throw new Error(`the ICD-10 look-up for "${diagnosis.search}" did not find ${diagnosis.code}`);
      await api('POST', `${consultationUrl}/diagnoses`, doctor.accessToken, { icd10Code: diagnosis.code, isPrimary: i === 0 }, 201);
    }
    let { version } = await api<{ version: number }>(
      'PATCH',
      consultationUrl,
      doctor.accessToken,
      { clinicalNotes: demo.clinicalNotes, treatmentPlan: demo.treatmentPlan },
      200,
      consultation.version,
    );
    if (demo.prescription) {
      const draft = await api<{ id: string; version: number }>(
        'POST',
        `${base}/prescriptions`,
        doctor.accessToken,
        { consultationId: consultation.id, items: demo.prescription.items },
        201,
      );
      const acknowledgements = demo.prescription.acknowledgement && allergy ? [{ allergyId: allergy.id, note: demo.prescription.acknowledgement }] : undefined;
      await api(
        'POST',
        `${base}/prescriptions/${draft.id}/issue`,
        doctor.accessToken,
        acknowledgements ? { allergyAcknowledgements: acknowledgements } : {},
        200,
        draft.version,
      );
    }
    if (demo.test) {
      const { results, conclusion, ...request } = demo.test;
      const lab = token('lab');
      const requested = await api<{ id: string }>('POST', `${base}/test-requests`, doctor.accessToken, { consultationId: consultation.id, ...request }, 201);
      await api('POST', `${base}/test-requests/${requested.id}/collect`, lab);
      await api('POST', `${base}/test-requests/${requested.id}/start`, lab);
      const report = await api<{ id: string; version: number }>('POST', `${base}/test-reports`, lab, { testRequestId: requested.id, conclusion, results }, 201);
      const withFile = await attachReportFile(app, clinic, lab, report, demoPdf(`${request.testName} for ${patients[demo.patient]!.fullName}: ${conclusion}`));
      await api('POST', `${base}/test-reports/${report.id}/release`, lab, {}, 200, withFile.version);
    }
    if (demo.followUp) await api('POST', `${base}/follow-ups`, doctor.accessToken, { consultationId: consultation.id, ...demo.followUp }, 201);
    ({ version } = await api<{ version: number }>('GET', consultationUrl, doctor.accessToken));
    await api('POST', `${consultationUrl}/sign`, doctor.accessToken, {}, 200, version);
  }
  return DEMO_CASES.length;
}

/** The lab report's file through POST test-reports/{id}/file (multipart, If-Match), as the technician. */
async function attachReportFile(
  app: FastifyInstance,
  clinic: DemoClinic,
  token: string,
  report: { id: string; version: number },
  bytes: Buffer,
): Promise<{ version: number }> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)], { type: 'application/pdf' }), 'lab-report.pdf');
  const body = new Response(form);
  const response = await app.inject({
    method: 'POST',
    url: `/api/v1/clinics/${clinic.slug}/test-reports/${report.id}/file`,
    headers: { authorization: `Bearer ${token}`, 'content-type': body.headers.get('content-type')!, 'if-match': `"${report.version}"` },
    payload: Buffer.from(await body.arrayBuffer()),
  });
  if (response.statusCode !== 200) throw new Error(`POST test-reports/${report.id}/file answered ${response.statusCode}, not 200: ${response.body}`);
  return response.json();
}

interface DemoFile {
  key: string;
  patient: number;
  category: 'registration' | 'report' | 'other';
  name: string;
  type: string;
  bytes: (patient: DemoPatient) => Buffer;
}

/** A few small files of real formats (the upload checks the bytes, not the claimed type): who uploads, for whom. */
const DEMO_FILES: DemoFile[] = [
  { key: 'receptionist', patient: 0, category: 'registration', name: 'id-card-scan.png', type: 'image/png', bytes: () => demoPng() },
  {
    key: 'receptionist',
    patient: 0,
    category: 'report',
    name: 'referral-letter.pdf',
    type: 'application/pdf',
    bytes: (p) => demoPdf(`Referral letter for ${p.fullName}`),
  },
  {
    key: 'nurse',
    patient: 0,
    category: 'other',
    name: 'triage-note.txt',
    type: 'text/plain',
    bytes: (p) => Buffer.from(`Triage note for ${p.fullName}: blood pressure 128/82, pulse 72.\n`),
  },
  { key: 'receptionist', patient: 1, category: 'registration', name: 'insurance-card.png', type: 'image/png', bytes: () => demoPng() },
  {
    key: 'nurse',
    patient: 2,
    category: 'report',
    name: 'blood-test-results.pdf',
    type: 'application/pdf',
    bytes: (p) => demoPdf(`Full blood count for ${p.fullName}: within normal ranges`),
  },
];

/** Uploads the demo files through POST files (multipart, as a browser's FormData sends it), as the members named. */
async function uploadFiles(app: FastifyInstance, clinic: DemoClinic, seeded: SeededClinic, patients: DemoPatient[], patientIds: string[]): Promise<number> {
  for (const file of DEMO_FILES) {
    const form = new FormData();
    form.append('patientId', patientIds[file.patient]!);
    form.append('category', file.category);
    form.append('file', new Blob([new Uint8Array(file.bytes(patients[file.patient]!))], { type: file.type }), file.name);
    const body = new Response(form);
    const response = await app.inject({
      method: 'POST',
      url: `/api/v1/clinics/${clinic.slug}/files`,
      headers: { authorization: `Bearer ${seeded.sessions.get(file.key)!.accessToken}`, 'content-type': body.headers.get('content-type')! },
      payload: Buffer.from(await body.arrayBuffer()),
    });
    if (response.statusCode !== 201) throw new Error(`POST files (${file.name}) answered ${response.statusCode}, not 201: ${response.body}`);
  }
  return DEMO_FILES.length;
}

// ---------------------------------------------------------------- the whole run

async function seedClinic(app: FastifyInstance, owner: pg.Client, operatorToken: string, clinic: DemoClinic, logins: Login[]): Promise<void> {
  const api = apiOf(app);
  const seeded = await onboard(api, owner, operatorToken, clinic, logins);
  const today = clinicToday(clinic.timezone);
  const patients = demoPatients({ seed: clinic.slug, count: PATIENTS_PER_CLINIC, town: clinic.town, numberBlock: clinic.numberBlock, today });
  // The portal patient's record carries the e-mail they log in with.
  patients[0] = { ...patients[0]!, email: loginOf(clinic, 'patient').email };
  const patientIds = await registerPatients(api, clinic, seeded, patients);
  await portalPatient(api, owner, clinic, seeded, patients[0]!, logins);
  await linkPortalPatient(api, clinic, seeded, patientIds[0]!);
  progress(`${clinic.slug}: ${patientIds.length} patients registered, ${patients[0]!.fullName} has a portal login`);
  const files = await uploadFiles(app, clinic, seeded, patients, patientIds);
  progress(`${clinic.slug}: ${files} files uploaded`);
  const random = randomFrom(`${clinic.slug} ${today}`);
  const booked = await bookWeek(api, clinic, seeded, patientIds, random);
  progress(`${clinic.slug}: ${booked.length} appointments in the coming week`);
  const consulted = await morningConsultations(app, api, clinic, seeded, patients, patientIds);
  progress(`${clinic.slug}: ${consulted} consultations signed, with prescriptions, lab reports and follow-ups`);
  const visits = await todaysQueue(api, clinic, seeded, booked, patientIds, random);
  progress(`${clinic.slug}: ${visits} patients checked in today`);
}

/** The clinic-local date of an instant (now by default) as YYYY-MM-DD. */
function clinicDate(instant: string | undefined, timezone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    instant ? new Date(instant) : new Date(),
  );
}

const clinicToday = (timezone: string) => clinicDate(undefined, timezone);

function printLogins(logins: Login[]): void {
  const rows = [
    { clinic: 'clinic', role: 'role', email: 'email', password: 'password' },
    { clinic: '(platform)', role: 'platform_operator', ...OPERATOR },
    ...logins,
  ];
  const width = (key: keyof Login) => Math.max(...rows.map((r) => r[key].length));
  const widths = { clinic: width('clinic'), role: width('role'), email: width('email') };
  for (const r of rows) console.log(`${r.clinic.padEnd(widths.clinic)}  ${r.role.padEnd(widths.role)}  ${r.email.padEnd(widths.email)}  ${r.password}`);
}

/** Every demo login, for a second run that changes nothing. */
function allLogins(): Login[] {
  return DEMO_CLINICS.flatMap((clinic) => [
    { clinic: clinic.slug, role: 'clinic_admin', ...loginOf(clinic, clinic.admin.key) },
    ...clinic.staff.map((member) => ({ clinic: clinic.slug, role: member.role, ...loginOf(clinic, member.key) })),
    { clinic: clinic.slug, role: 'patient', ...loginOf(clinic, 'patient') },
  ]);
}

async function main(): Promise<number> {
  // Not loaded as a server's (serving: true): production would then ask for its keys first.
  const config = loadConfig();
  if (config.env === 'production') {
    console.error('seed:demo refuses to run with NODE_ENV=production: its logins and passwords are printed and public.');
    return 1;
  }
  if (config.database.adminUrl && !config.database.rolePassword) {
    console.error('seed:demo: DATABASE_URL needs DATABASE_ROLE_PASSWORD (the password setup gives the login roles)');
    return 1;
  }
  const dataKeys = await loadDataKeys(config.dataEncryption);
  const database = await prepareDatabase(config, progress);
  try {
    if (!database.ownerUrl) throw new Error('seed:demo needs the owner: DATABASE_URL with DATABASE_ROLE_PASSWORD, DATABASE_OWNER_URL, or the embedded default');
    return await withClient(database.ownerUrl, async (owner) => {
      const state = await databaseState(owner);
      if (state.kind === 'refused') {
        console.error(`seed:demo refused: ${state.reason}`);
        return 1;
      }
      if (state.kind === 'seeded') {
        progress('the demo clinics are there already: nothing changed. Their logins (as seeded):');
        printLogins(allLogins());
        return 0;
      }
      await ensureOperator(owner);
      const appConfig = appConfigFrom(config, {
        authenticatorUrl: database.authenticatorUrl,
        keys: await loadSigningKeys(config.jwt, config.dataDir),
        fieldCipher: createFieldCipher(dataKeys),
      });
      // This process's own app: its dozens of logins from one address are not an attack.
      const app = await buildApp({ ...appConfig, logLevel: 'warn', auth: { ...appConfig.auth, loginAttemptsPerMinute: 10_000 } });
      try {
        const operator = await apiOf(app)<{ accessToken: string }>('POST', '/api/v1/platform/auth/login', null, OPERATOR);
        const logins: Login[] = [];
        for (const clinic of DEMO_CLINICS) await seedClinic(app, owner, operator.accessToken, clinic, logins);
        progress('done. Start the API with `npm start`; the logins:');
        printLogins(logins);
        return 0;
      } finally {
        await app.close();
      }
    });
  } finally {
    await database.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const known = error instanceof ConfigError || error instanceof EmbeddedPostgresError || error instanceof DataKeyError;
    console.error(known ? error.message : error);
    process.exit(1);
  },
);
