// The demo clinics' people, made up deterministically (the same seed gives the same patients on
// every machine): names, dates of birth, phone numbers and identification numbers that look real
// but cannot belong to anyone. Phone numbers come from Ofcom's ranges reserved for drama (07700
// 900000–900999 mobile, 020 7946 0000–0999 London), identification numbers from the QQ prefix
// that HMRC never issues, e-mail addresses from example.com (RFC 2606).

/** A small seeded generator (mulberry32): deterministic, good enough for made-up people. */
export function randomFrom(seed: string): () => number {
  let state = [...seed].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Random = () => number;
export const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const between = (random: Random, low: number, high: number) => low + Math.floor(random() * (high - low + 1));

const FEMALE = [
  'Amelia',
  'Olivia',
  'Isla',
  'Ava',
  'Mia',
  'Grace',
  'Sophia',
  'Aisha',
  'Priya',
  'Fatima',
  'Zara',
  'Chloe',
  'Hannah',
  'Niamh',
  'Maryam',
  'Lucy',
  'Ruth',
  'Margaret',
  'Joan',
  'Ewa',
  'Mei',
  'Chiamaka',
  'Rosa',
  'Ingrid',
];
const MALE = [
  'Oliver',
  'George',
  'Arthur',
  'Noah',
  'Leo',
  'Harry',
  'Mohammed',
  'Omar',
  'Arjun',
  'Rohan',
  'Jack',
  'Thomas',
  'Daniel',
  'Samuel',
  'Kwame',
  'Tomasz',
  'Luca',
  'Declan',
  'Brian',
  'Peter',
  'Hiroshi',
  'Emeka',
  'Mateo',
  'Lars',
];
const SURNAMES = [
  'Smith',
  'Jones',
  'Taylor',
  'Brown',
  'Williams',
  'Wilson',
  'Johnson',
  'Davies',
  'Patel',
  'Khan',
  'Wright',
  'Evans',
  'Thomas',
  'Roberts',
  'Walker',
  'Hughes',
  'Green',
  'Hall',
  'Clarke',
  'Murphy',
  "O'Brien",
  'Nowak',
  'Kowalski',
  'Okafor',
  'Mensah',
  'Singh',
  'Begum',
  'Ahmed',
  'Rossi',
  'Silva',
  'Nguyen',
  'Chen',
  'Tanaka',
  'Andersen',
  'MacDonald',
  'Campbell',
  'Fraser',
  'Morgan',
  'Ellis',
  'Bennett',
];
const STREETS = [
  'High Street',
  'Station Road',
  'Church Lane',
  'Park Avenue',
  'Victoria Road',
  'Green Lane',
  'Manor Road',
  'Mill Lane',
  'Queens Road',
  'The Crescent',
];
const BLOOD_GROUPS = ['O+', 'O+', 'O+', 'A+', 'A+', 'A+', 'B+', 'AB+', 'O-', 'A-', 'B-', 'AB-'] as const;
const STATUSES = ['registered', 'registered', 'registered', 'registered', 'registered', 'registered', 'in_treatment', 'in_treatment', 'discharged'] as const;

export interface DemoPatient {
  fullName: string;
  dateOfBirth: string;
  sex: 'female' | 'male' | 'other' | 'unknown';
  phone: string | null;
  email: string | null;
  address: string;
  emergencyContactName: string | null;
  emergencyContactPhone: string | null;
  bloodGroup: string | null;
  identification: { type: 'national_id' | 'passport'; number: string } | null;
  status: (typeof STATUSES)[number];
}

export interface PatientOptions {
  /** Seeds the generator: each clinic has its own people. */
  seed: string;
  count: number;
  /** The town in the addresses. */
  town: string;
  /** The first of this clinic's numbers in each reserved range; clinics take disjoint blocks. */
  numberBlock: number;
  /** The clinic's today (YYYY-MM-DD): nobody is born after it. */
  today: string;
}

/**
 * `count` made-up patients: unique names, unique mobile numbers (the registry flags a shared one as
 * a possible duplicate), a few without a phone or an e-mail, most with an identification number.
 */
export function demoPatients({ seed, count, town, numberBlock, today }: PatientOptions): DemoPatient[] {
  const random = randomFrom(seed);
  const names = new Set<string>();
  const latestBirthYear = Number(today.slice(0, 4)) - 1;
  const patients: DemoPatient[] = [];
  for (let i = 0; patients.length < count; i++) {
    const sex = random() < 0.5 ? 'female' : 'male';
    const first = pick(random, sex === 'female' ? FEMALE : MALE);
    const last = pick(random, SURNAMES);
    const fullName = `${first} ${last}`;
    if (names.has(fullName)) continue;
    names.add(fullName);
    const n = numberBlock + patients.length;
    const hasPhone = random() > 0.05;
    const hasEmail = random() > 0.3;
    const idRoll = random();
    const year = between(random, 1935, latestBirthYear);
    const dateOfBirth = `${year}-${String(between(random, 1, 12)).padStart(2, '0')}-${String(between(random, 1, 28)).padStart(2, '0')}`;
    const contactFirst = pick(random, random() < 0.5 ? FEMALE : MALE);
    patients.push({
      fullName,
      dateOfBirth,
      sex: i % 97 === 96 ? 'other' : sex,
      phone: hasPhone ? `+44 7700 ${900000 + n}` : null,
      email: hasEmail ? `${first}.${last}.${n}@example.com`.toLowerCase().replace(/'/g, '') : null,
      address: `${between(random, 1, 240)} ${pick(random, STREETS)}, ${town}`,
      emergencyContactName: random() < 0.8 ? `${contactFirst} ${last}` : null,
      emergencyContactPhone: `020 7946 ${String(n).padStart(4, '0')}`,
      bloodGroup: random() < 0.7 ? pick(random, BLOOD_GROUPS) : null,
      identification:
        idRoll < 0.6
          ? {
              type: 'national_id',
              number: `QQ ${String(100000 + n * 7)
                .slice(-6)
                .replace(/(\d\d)(\d\d)(\d\d)/, '$1 $2 $3')} ${'ABCD'[n % 4]}`,
            }
          : idRoll < 0.75
            ? { type: 'passport', number: String(500000000 + n * 13) }
            : null,
      status: pick(random, STATUSES),
    });
  }
  return patients;
}

const REASONS = [
  'Routine check-up',
  'Follow-up',
  'Blood pressure review',
  'Persistent cough',
  'Vaccination',
  'Back pain',
  'Medication review',
  'Skin rash',
  'Headaches',
  'Test results',
];
const PURPOSES = ['Fever since yesterday', 'Dressing change', 'Sprained ankle', 'Prescription renewal', 'Chest pain', 'Ear ache'];

export const appointmentReason = (random: Random): string => pick(random, REASONS);
export const walkInPurpose = (random: Random): string => pick(random, PURPOSES);

/** A small PDF (one page saying `text`), valid enough for every reader: offsets computed, not guessed. */
export function demoPdf(text: string): Buffer {
  const content = `BT /F1 14 Tf 72 720 Td (${text.replace(/[()\\]/g, '')}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let body = '%PDF-1.4\n';
  const offsets = objects.map((object, i) => {
    const offset = body.length;
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
    return offset;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/** A 1×1 PNG of one colour (a stand-in for a scanned card). */
export function demoPng(): Buffer {
  return Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
}

// ---------------------------------------------------------------- the doctors' and the lab's morning

/** A vital signs reading as POST …/consultations/{id}/vitals takes it (units in the names). */
export interface DemoVitals {
  systolicMmhg?: number;
  diastolicMmhg?: number;
  heartRateBpm?: number;
  temperatureC?: number;
  respiratoryRatePerMin?: number;
  spo2Percent?: number;
  weightKg?: number;
  heightCm?: number;
}

export interface DemoResult {
  analyte: string;
  valueNumeric: number;
  unit: string;
  referenceLow: number;
  referenceHigh: number;
  criticalLow?: number;
  criticalHigh?: number;
}

/** A finished consultation of the morning: what the doctor, the nurse and the lab wrote. */
export interface DemoCase {
  /** Index into the clinic's demo patients (0: the portal patient). */
  patient: number;
  purpose: string;
  /** An allergy the nurse records before the consultation (name, severity, what happens). */
  allergy?: { name: string; severity: 'mild' | 'moderate' | 'severe'; detail: string };
  consultation: { chiefComplaint: string; symptoms: string; findings: string; urgency: 'routine' | 'urgent' };
  vitals: DemoVitals;
  /** Looked up by `search` (GET …/icd10?q=), the first one primary. */
  diagnoses: { search: string; code: string }[];
  clinicalNotes: string;
  treatmentPlan: string;
  prescription?: {
    items: {
      medicineName: string;
      genericName: string;
      strength: string;
      doseForm: 'tablet' | 'capsule' | 'inhaler';
      dose: string;
      frequency: 'OD' | 'BD' | 'TDS' | 'QID' | 'PRN';
      route: 'oral' | 'inhaled';
      durationDays?: number;
      quantity: number;
      refills?: number;
      instructions: string;
    }[];
    /** The doctor prescribes against the recorded allergy knowingly: why. */
    acknowledgement?: string;
  };
  test?: {
    testName: string;
    testCode: string;
    category: 'haematology' | 'biochemistry';
    urgency: 'routine' | 'stat';
    clinicalNote: string;
    results: DemoResult[];
    conclusion: string;
  };
  followUp?: { inDays: number; reason: string };
}

/**
 * The second doctor's finished consultations of the morning, the same in both clinics: the portal
 * patient's (a blood pressure review, a prescription against a mild recorded allergy, acknowledged;
 * a lipid profile with one high value; a follow-up), a sore throat, tiredness with a critically low
 * haemoglobin (a stat blood count), and asthma. The codes are in the bundled ICD-10 list.
 */
export const DEMO_CASES: DemoCase[] = [
  {
    patient: 0,
    purpose: 'Blood pressure review',
    allergy: { name: 'Aspirin', severity: 'mild', detail: 'Indigestion at 300 mg doses; no rash, no wheeze' },
    consultation: {
      chiefComplaint: 'Raised blood pressure at the pharmacy',
      symptoms: 'Occasional morning headaches for a month.\nNo chest pain, no breathlessness.',
      findings: 'BP 152/94 seated, repeated 148/92. Heart sounds normal. No ankle oedema.',
      urgency: 'routine',
    },
    vitals: { systolicMmhg: 150, diastolicMmhg: 93, heartRateBpm: 78, temperatureC: 36.7, spo2Percent: 98, weightKg: 84.2, heightCm: 176 },
    diagnoses: [{ search: 'hypertension', code: 'I10' }],
    clinicalNotes: 'Three raised readings over a month. Ten-year cardiovascular risk raised; lipids requested.',
    treatmentPlan: 'Amlodipine 5 mg once daily. Low-dose aspirin after discussing the indigestion. Home readings for four weeks.',
    prescription: {
      items: [
        {
          medicineName: 'Amlodipine',
          genericName: 'Amlodipine besilate',
          strength: '5 mg',
          doseForm: 'tablet',
          dose: '1 tablet',
          frequency: 'OD',
          route: 'oral',
          durationDays: 28,
          quantity: 28,
          refills: 2,
          instructions: 'Take in the morning. Ankle swelling is common: tell us if it troubles you.',
        },
        {
          medicineName: 'Aspirin',
          genericName: 'Acetylsalicylic acid',
          strength: '75 mg',
          doseForm: 'tablet',
          dose: '1 tablet',
          frequency: 'OD',
          route: 'oral',
          durationDays: 28,
          quantity: 28,
          instructions: 'Take with food.',
        },
      ],
      acknowledgement: 'Recorded reaction is indigestion at high doses only; 75 mg with food, benefit outweighs the risk. Discussed with the patient.',
    },
    test: {
      testName: 'Lipid profile',
      testCode: 'LIPID',
      category: 'biochemistry',
      urgency: 'routine',
      clinicalNote: 'Fasting sample. New hypertension, cardiovascular risk assessment.',
      results: [
        { analyte: 'Total cholesterol', valueNumeric: 6.4, unit: 'mmol/L', referenceLow: 0, referenceHigh: 5 },
        { analyte: 'HDL cholesterol', valueNumeric: 1.3, unit: 'mmol/L', referenceLow: 1, referenceHigh: 3 },
        { analyte: 'Triglycerides', valueNumeric: 1.6, unit: 'mmol/L', referenceLow: 0, referenceHigh: 1.7 },
      ],
      conclusion: 'Raised total cholesterol.',
    },
    followUp: { inDays: 28, reason: 'Blood pressure review with home readings and the lipid results' },
  },
  {
    patient: 1,
    purpose: 'Sore throat',
    consultation: {
      chiefComplaint: 'Sore throat and fever for three days',
      symptoms: 'Painful swallowing, fever up to 38.5 °C. No cough.',
      findings: 'Tonsillar exudate, tender anterior cervical nodes. Centor score 4.',
      urgency: 'routine',
    },
    vitals: { temperatureC: 38.3, heartRateBpm: 96, respiratoryRatePerMin: 16, spo2Percent: 98 },
    diagnoses: [{ search: 'pharyngitis', code: 'J02.9' }],
    clinicalNotes: 'Likely streptococcal. No penicillin allergy on record.',
    treatmentPlan: 'Phenoxymethylpenicillin for ten days, fluids, paracetamol.',
    prescription: {
      items: [
        {
          medicineName: 'Phenoxymethylpenicillin',
          genericName: 'Penicillin V',
          strength: '500 mg',
          doseForm: 'tablet',
          dose: '1 tablet',
          frequency: 'QID',
          route: 'oral',
          durationDays: 10,
          quantity: 40,
          instructions: 'An hour before food. Finish the course.',
        },
      ],
    },
  },
  {
    patient: 2,
    purpose: 'Tiredness',
    consultation: {
      chiefComplaint: 'Tired all the time for two months',
      symptoms: 'Breathless on stairs, heavy periods.',
      findings: 'Pale conjunctivae. Pulse 104 regular.',
      urgency: 'urgent',
    },
    vitals: { systolicMmhg: 108, diastolicMmhg: 66, heartRateBpm: 104, spo2Percent: 97, weightKg: 61.5 },
    diagnoses: [
      { search: 'fatigue', code: 'R53.83' },
      { search: 'iron deficiency', code: 'D50.9' },
    ],
    clinicalNotes: 'Suspected iron deficiency anaemia from menorrhagia; blood count today.',
    treatmentPlan: 'Ferrous sulfate; review with the blood count.',
    prescription: {
      items: [
        {
          medicineName: 'Ferrous sulfate',
          genericName: 'Ferrous sulfate',
          strength: '200 mg',
          doseForm: 'tablet',
          dose: '1 tablet',
          frequency: 'BD',
          route: 'oral',
          durationDays: 90,
          quantity: 180,
          instructions: 'With orange juice, not with tea. Stools may turn black.',
        },
      ],
    },
    test: {
      testName: 'Full blood count',
      testCode: 'FBC',
      category: 'haematology',
      urgency: 'stat',
      clinicalNote: 'Fatigue, menorrhagia, tachycardia. Please phone a critical haemoglobin.',
      results: [
        { analyte: 'Haemoglobin', valueNumeric: 62, unit: 'g/L', referenceLow: 115, referenceHigh: 165, criticalLow: 70, criticalHigh: 200 },
        { analyte: 'Mean cell volume', valueNumeric: 68, unit: 'fL', referenceLow: 80, referenceHigh: 100 },
        { analyte: 'Platelets', valueNumeric: 410, unit: '10^9/L', referenceLow: 150, referenceHigh: 400 },
      ],
      conclusion: 'Microcytic anaemia, haemoglobin critically low.',
    },
    followUp: { inDays: 2, reason: 'Critical haemoglobin: review today or tomorrow, consider transfusion' },
  },
  {
    patient: 3,
    purpose: 'Wheeze at night',
    consultation: {
      chiefComplaint: 'Wheeze and cough at night',
      symptoms: 'Night-time cough three nights a week, wheeze after running.',
      findings: 'Scattered expiratory wheeze. Peak flow 380 L/min (predicted 480).',
      urgency: 'routine',
    },
    vitals: { heartRateBpm: 82, respiratoryRatePerMin: 18, spo2Percent: 96 },
    diagnoses: [{ search: 'asthma', code: 'J45.909' }],
    clinicalNotes: 'Uncontrolled asthma, no steroid inhaler so far.',
    treatmentPlan: 'Inhaled steroid twice daily, reliever as needed, inhaler technique shown.',
    prescription: {
      items: [
        {
          medicineName: 'Clenil Modulite',
          genericName: 'Beclometasone dipropionate',
          strength: '100 micrograms/dose',
          doseForm: 'inhaler',
          dose: '2 puffs',
          frequency: 'BD',
          route: 'inhaled',
          quantity: 1,
          refills: 5,
          instructions: 'Rinse your mouth after each use.',
        },
        {
          medicineName: 'Salbutamol',
          genericName: 'Salbutamol',
          strength: '100 micrograms/dose',
          doseForm: 'inhaler',
          dose: '2 puffs',
          frequency: 'PRN',
          route: 'inhaled',
          quantity: 1,
          refills: 5,
          instructions: 'When wheezy or breathless; see us if you need it more than three times a week.',
        },
      ],
    },
    followUp: { inDays: 42, reason: 'Asthma review: symptoms, peak flow, inhaler technique' },
  },
];
