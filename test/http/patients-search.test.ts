// Patient search: by name (typos allowed, ranked), phone however written, patient number, the
// whole identification number (through its keyed hash), date of birth; cursor pages that neither
// repeat nor skip, ties included; bounded pages; results are summaries, only the caller's clinic,
// only what the caller may read.
import t from 'tap';
import { patientsApp, person } from '../helpers/patients.ts';

type Item = { id: string; fullName: string; patientNumber: string; rank?: number };

t.test('search modes', async (t) => {
  const { call, register, member } = await patientsApp(t);
  const jonathan = await register({
    fullName: 'Jonathan Smith',
    dateOfBirth: '1975-03-02',
    sex: 'male',
    phone: '+1 (555) 010-2030',
    identificationType: 'passport',
    identificationNumber: 'P-998877',
  });
  const smyth = await register({ fullName: 'Jonathon Smyth', dateOfBirth: '1975-03-02', sex: 'male' });
  const garcia = await register({ fullName: 'Maria Garcia', dateOfBirth: '1990-11-30', sex: 'female', phone: '+34 600 111 222' });
  await register({ fullName: 'Jonathan Smith', dateOfBirth: '1975-03-02', sex: 'male', phone: '+1 (555) 010-2030' }, 'b');
  const search = async (query: string, role: Parameters<typeof call>[2] = 'receptionist') => {
    const response = await call('GET', `?${query}`, role);
    t.equal(response.statusCode, 200, query);
    return response.json().items as Item[];
  };

  const typo = await search('q=Jonahtan%20Smith');
  t.equal(typo[0]!.id, jonathan, 'a typo still finds the name first');
  t.ok(
    typo.every((item) => item.id !== garcia),
    'an unlike name is not a result',
  );
  t.ok(typo[0]!.rank! > 0.5 && typo[0]!.rank! <= 1, `ranked (${typo[0]!.rank})`);
  t.same(
    (await search('q=smith')).map((item) => item.id),
    [jonathan],
    'a surname alone finds the full name; Smyth is too far from it',
  );
  t.same(
    (await search('q=smyth')).map((item) => item.id),
    [smyth],
  );
  t.same(
    (await search('q=garcia&dateOfBirth=1975-03-02')).map((item) => item.id),
    [],
    'a name search narrowed by date of birth',
  );
  t.same((await search('q=jonathan&dateOfBirth=1975-03-02')).map((item) => item.id).sort(), [jonathan, smyth].sort());
  t.same(
    (await search(`phone=${encodeURIComponent('+15550102030')}`)).map((item) => item.id),
    [jonathan],
    'phone however written, only this clinic',
  );
  t.same(
    (await search(`identificationNumber=${encodeURIComponent('p 998 877')}`)).map((item) => item.id),
    [jonathan],
    'the whole identification number, however typed',
  );
  t.same(await search('identificationNumber=P99887'), [], 'never a part of it');
  const number = (await search('phone=%2B34600111222'))[0]!.patientNumber;
  t.same(
    (await search(`patientNumber=${number}`)).map((item) => item.id),
    [garcia],
  );
  t.same(
    (await search('dateOfBirth=1975-03-02')).map((item) => item.fullName),
    ['Jonathan Smith', 'Jonathon Smyth'],
    'exact searches in name order',
  );
  t.same(
    Object.keys((await search('dateOfBirth=1990-11-30'))[0]!).sort(),
    ['dateOfBirth', 'fullName', 'id', 'mergedIntoId', 'patientNumber', 'phone', 'sex', 'status'],
    'results are summaries: no identification number, address or contact',
  );

  await call('PATCH', `/${garcia}`, 'receptionist', { memberId: member('patient') });
  t.same(
    (await search('', 'patient')).map((item) => item.id),
    [garcia],
    'a patient finds only their own record',
  );
  t.same(
    (await search('q=garcia', 'patient')).map((item) => item.id),
    [garcia],
  );
  t.same(await search('q=jonathan', 'patient'), []);
  t.equal((await call('GET', '?q=smith', 'lab_technician')).statusCode, 403);

  const refused: [string, string][] = [
    ['q=smith&phone=123456', 'querystring.q'],
    ['q=a', 'querystring.q'],
    ['limit=101', 'querystring.limit'],
    ['limit=0', 'querystring.limit'],
    ['dateOfBirth=1975-02-30', 'querystring.dateOfBirth'],
    ['patientNumber=42', 'querystring.patientNumber'],
    ['identificationNumber=---', 'querystring.identificationNumber'],
    ['after=bm90LWEtY3Vyc29y', 'querystring.after'],
    ['unknown=1', 'querystring'],
  ];
  for (const [query, path] of refused) {
    const response = await call('GET', `?${query}`, 'receptionist');
    t.equal(response.statusCode, 400, query);
    t.ok(
      response.json().errors.some((error: { path: string }) => error.path.startsWith(path)),
      `${query} names ${path}`,
    );
  }
});

t.test('cursor pages neither repeat nor skip, ties included', async (t) => {
  const { call, register } = await patientsApp(t);
  // Every name ranks 1 for "Testcase" (a tie throughout) and all share a date of birth.
  const ids: string[] = [];
  for (let n = 0; n < 23; n++) ids.push(await register({ ...person(n), dateOfBirth: '1966-06-06' }));
  const walk = async (query: string, limit: number) => {
    const seen: Item[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const response = await call('GET', `?${query}&limit=${limit}${after ? `&after=${after}` : ''}`, 'nurse');
      t.equal(response.statusCode, 200);
      const body = response.json() as { items: Item[]; nextCursor: string | null };
      t.ok(body.items.length <= limit, 'a page is at most the limit');
      seen.push(...body.items);
      after = body.nextCursor;
      pages++;
    } while (after && pages < 30);
    return seen;
  };
  for (const [query, limit] of [
    ['q=testcase', 4],
    ['dateOfBirth=1966-06-06', 5],
    ['', 7],
  ] as const) {
    const seen = await walk(query, limit);
    t.equal(seen.length, 23, `${query || 'all'}: every record once`);
    t.same(new Set(seen.map((item) => item.id)), new Set(ids), `${query || 'all'}: no repeat, no skip`);
  }
  const wrongKind = (await call('GET', `?q=testcase&limit=2`, 'nurse')).json().nextCursor;
  const mixed = await call('GET', `?dateOfBirth=1966-06-06&after=${wrongKind}`, 'nurse');
  t.equal(mixed.statusCode, 400, "a name search's cursor does not continue another search");
  t.match(mixed.json().errors, [{ path: 'querystring.after' }]);
});
