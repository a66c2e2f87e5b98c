// The live queue of a waiting-room display over a real socket: the queue on connect and after
// every change of its doctor's queue, re-read under the display's own token, so two clinics
// changing queues at the same time each see only their own (a forged notification too); refusals
// before the stream opens; the stream ending when its token expires; the clean-up when a display
// hangs up; and one listening connection for all the displays of the process.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { openEventStream, type OpenStream } from '../helpers/sse.ts';
import { frontDesk, type FrontDesk } from '../helpers/visits.ts';
import { eventually } from '../helpers/wait.ts';

interface QueueEvent {
  doctorId: string;
  entries: { visitId: string; tokenNumber: number; status: string; position: number | null }[];
}

const CHANNEL = 'clinicbase_queue';

async function display(desk: FrontDesk, clinic: 'a' | 'b', doctorId: string, token?: string): Promise<OpenStream> {
  const bearer = token ?? (await desk.token('receptionist', clinic));
  return openEventStream(desk.app, desk.url(`/doctors/${doctorId}/queue/stream`, clinic), { authorization: `Bearer ${bearer}` });
}

/** The queue events received so far. */
const queues = (stream: OpenStream) => stream.parsed().events.map((e) => ({ event: e.event, ...(JSON.parse(e.data) as QueueEvent) }));

/** Waits for a queue event that `done` accepts; returns every queue event received until then. */
async function until(stream: OpenStream, done: (queue: QueueEvent) => boolean): Promise<QueueEvent[]> {
  for (let count = 1; ; count += 1) {
    await stream.events(count);
    const received = queues(stream);
    if (done(received.at(-1)!)) return received;
  }
}

const visitIds = (events: QueueEvent[]) => new Set(events.flatMap((e) => e.entries.map((entry) => entry.visitId)));

t.test("a display receives its clinic's changes and never another's, even when both change at once", async (t) => {
  const desk = await frontDesk(t, { poolSize: 4 });
  const [patientA, patientB] = [await desk.patient('a'), await desk.patient('b')];
  const a = await display(desk, 'a', desk.doctor('a'));
  const b = await display(desk, 'b', desk.doctor('b'));
  t.equal(a.status, 200, 'A opens');
  await a.events(1);
  t.match(queues(a)[0], { event: 'queue', doctorId: desk.doctor('a'), entries: [] }, "A's empty queue on connect");
  await b.events(1);

  // Both clinics check in and call, interleaved, three times each.
  const checkedIn: Record<'a' | 'b', string[]> = { a: [], b: [] };
  for (let i = 0; i < 3; i += 1) {
    const [inA, inB] = await Promise.all([
      desk.checkIn({ patientId: patientA, doctorId: desk.doctor('a') }, 'a'),
      desk.checkIn({ patientId: patientB, doctorId: desk.doctor('b') }, 'b'),
    ]);
    checkedIn.a.push(inA.id);
    checkedIn.b.push(inB.id);
  }
  const seenByA = await until(a, (q) => q.entries.length === 3);
  const seenByB = await until(b, (q) => q.entries.length === 3);
  t.same(
    seenByA.at(-1)!.entries.map((e) => [e.visitId, e.tokenNumber, e.status, e.position]),
    checkedIn.a.map((id, i) => [id, i + 1, 'waiting', i + 1]),
    "A's display shows A's three visits in order",
  );
  t.same(
    [...visitIds(seenByA)].filter((id) => !checkedIn.a.includes(id)),
    [],
    "A's display never received a visit that is not A's",
  );
  t.same(
    [...visitIds(seenByB)].filter((id) => !checkedIn.b.includes(id)),
    [],
    "B's display never received a visit that is not B's",
  );
  t.notMatch(a.text(), /patientId|fullName|Patient \d/, 'no patient on a display: neither id nor name');

  const called = await desk.client.post(desk.url(`/doctors/${desk.doctor('a')}/queue/next`), undefined, await desk.token('receptionist'));
  t.equal(called.statusCode, 200);
  const afterCall = await until(a, (q) => q.entries.some((e) => e.status === 'called'));
  t.same(
    afterCall.at(-1)!.entries.map((e) => [e.tokenNumber, e.status, e.position]),
    [
      [1, 'called', null],
      [2, 'waiting', 1],
      [3, 'waiting', 2],
    ],
    'calling next reaches the display',
  );

  // A notification forged by anyone who can run pg_notify: clinic A, A's doctor, one of B's visits.
  const before = queues(a).length;
  await desk.db.admin.query('select pg_notify($1, $2)', [
    CHANNEL,
    JSON.stringify({ clinicId: desk.clinics.a, doctorId: desk.doctor('a'), visitId: checkedIn.b[0] }),
  ]);
  await a.events(before + 1);
  t.same(visitIds(queues(a).slice(before)), new Set(checkedIn.a), 'a forged notification makes A re-read, and A receives A’s queue only');
  await Promise.all([a.close(), b.close()]);
});

t.test('refused before any stream opens: another clinic, an unknown doctor, a patient, no token', async (t) => {
  const desk = await frontDesk(t);
  const theirs = await desk.token('receptionist', 'b');
  const cases: [string, 'a' | 'b', string, string | undefined, number][] = [
    ["B's token on A's stream", 'a', desk.doctor('a'), theirs, 404],
    ["A's doctor through B's URL with B's token", 'b', desk.doctor('a'), theirs, 404],
    ['an unknown doctor', 'a', randomUUID(), undefined, 404],
    [
      'a member who is not a doctor',
      'a',
      (await desk.db.admin.query(`select id from app_public.clinic_members where clinic_id = $1 and role = 'nurse'`, [desk.clinics.a])).rows[0].id,
      undefined,
      404,
    ],
    ["a patient's token", 'a', desk.doctor('a'), await desk.token('patient'), 403],
    ["a lab technician's token", 'a', desk.doctor('a'), await desk.token('lab_technician'), 403],
  ];
  for (const [what, clinic, doctorId, token, status] of cases) {
    const refused = await display(desk, clinic, doctorId, token);
    t.equal(refused.status, status, `${what}: ${status}`);
    t.match(refused.headers['content-type'], /^application\/problem\+json/, `${what}: a problem, not a stream`);
  }
  const none = await openEventStream(desk.app, desk.url(`/doctors/${desk.doctor('a')}/queue/stream`));
  t.equal(none.status, 401, 'no token: 401');
  t.same(
    { streams: desk.app.openEventStreams, subscribers: desk.app.notifications.subscriberCount(CHANNEL) },
    { streams: 0, subscribers: 0 },
    'nothing left subscribed by the refusals',
  );
});

t.test('many displays share one listening connection; each that hangs up is cleaned up', async (t) => {
  const desk = await frontDesk(t);
  const displays = await Promise.all(Array.from({ length: 5 }, () => display(desk, 'a', desk.doctor('a'))));
  await Promise.all(displays.map((d) => d.events(1)));
  t.equal(desk.app.notifications.subscriberCount(CHANNEL), 5, 'five subscribers');
  t.equal(desk.app.openEventStreams, 5, 'five streams');
  const listeners = async () =>
    (
      await desk.db.admin.query(
        `select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'clinicbase-listener'`,
      )
    ).rows[0].n;
  t.equal(await listeners(), 1, 'one listening backend for the five');
  t.same(await desk.app.notifications.listeningChannels(), [CHANNEL]);

  await desk.checkIn({ patientId: await desk.patient(), doctorId: desk.doctor('a') });
  for (const [i, d] of displays.entries()) t.equal((await until(d, (q) => q.entries.length === 1)).at(-1)!.entries.length, 1, `display ${i} got the change`);

  await displays[0]!.close();
  t.equal(
    await eventually(
      () => desk.app.notifications.subscriberCount(CHANNEL),
      (n) => n === 4,
    ),
    4,
    'one hung up: four subscribers',
  );
  await Promise.all(displays.slice(1).map((d) => d.close()));
  t.same(
    await eventually(
      async () => ({
        streams: desk.app.openEventStreams,
        subscribers: desk.app.notifications.subscriberCount(CHANNEL),
        channels: await desk.app.notifications.listeningChannels(),
      }),
      (s) => s.streams === 0 && s.subscribers === 0 && s.channels.length === 0,
    ),
    { streams: 0, subscribers: 0, channels: [] },
    'all hung up: no stream, no subscriber, the channel no longer listened to',
  );
});

t.test('a burst of changes ends with the last state; the stream ends when its token expires or its member is deactivated', async (t) => {
  const desk = await frontDesk(t, { poolSize: 4 });
  const patient = await desk.patient();
  const d = await display(desk, 'a', desk.doctor('a'));
  await d.events(1);
  await Promise.all(Array.from({ length: 10 }, () => desk.checkIn({ patientId: patient, doctorId: desk.doctor('a') })));
  const seen = await until(d, (q) => q.entries.length === 10);
  t.same(
    seen.at(-1)!.entries.map((e) => e.tokenNumber),
    Array.from({ length: 10 }, (_, i) => i + 1),
    'the last state of the burst is sent',
  );

  const receptionist = (
    await desk.db.admin.query(`select account_id from app_public.clinic_members where clinic_id = $1 and role = 'receptionist'`, [desk.clinics.a])
  ).rows[0].account_id;
  const shortLived = await desk.app.signAccessToken(
    { sub: receptionist, clinic_id: desk.clinics.a, clinic_slug: 'clinic-a', role: 'receptionist', jti: randomUUID(), amr: ['pwd'] },
    2,
  );
  const expiring = await display(desk, 'a', desk.doctor('a'), shortLived);
  await expiring.events(1);
  await expiring.ended;
  t.pass('the stream ended when its token expired, with nothing changing meanwhile');

  const nurse = await display(desk, 'a', desk.doctor('a'), await desk.token('nurse'));
  await nurse.events(1);
  const sent = queues(nurse).length;
  await desk.db.admin.query(`update app_public.clinic_members set status = 'deactivated' where clinic_id = $1 and role = 'nurse'`, [desk.clinics.a]);
  await desk.app.refreshBlockedAccess();
  await desk.checkIn({ patientId: patient, doctorId: desk.doctor('a') });
  await nurse.ended;
  t.equal(queues(nurse).length, sent, 'a deactivated member’s stream ends at the next change, without that change');
  await d.close();
});
