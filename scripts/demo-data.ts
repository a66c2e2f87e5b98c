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
