// The coverage floor is the whole suite's, over the test processes: a whole run lets tap measure
// without judging, then holds what the test processes covered to the floor; a run that names files
// measures no coverage, or shows it without holding it to the floor when a report is asked for.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { coveragePlan, dropChildProcessCoverage, withoutTapLines } from './helpers/coverage.ts';

t.test('which runs are held to the coverage floor', async (t) => {
  const noFloor = ['--statements=0', '--branches=0', '--functions=0', '--lines=0'];
  t.same(
    coveragePlan([]),
    { tapArgs: [...noFloor, '--coverage-report=json-summary'], floorReporters: ['text-summary'] },
    'npm test: the whole suite, measured, then held to the floor with a summary',
  );
  t.same(
    coveragePlan(['--coverage-report=html', '--coverage-report=text-summary']),
    { tapArgs: [...noFloor, '--coverage-report=json-summary'], floorReporters: ['html', 'text-summary'] },
    'npm run test:coverage: the same, the report asked for made from what is held to the floor',
  );
  t.same(
    coveragePlan(['test/http/login.test.ts']),
    { tapArgs: ['--disable-coverage', 'test/http/login.test.ts'], floorReporters: undefined },
    'named files: nothing measured',
  );
  t.same(
    coveragePlan(['--coverage-report=html', 'test/http/login.test.ts']),
    { tapArgs: ['--allow-incomplete-coverage', '--coverage-report=html', 'test/http/login.test.ts'], floorReporters: undefined },
    'named files with a report: shown, not held',
  );
});

t.test("only the test processes' coverage is kept for the floor", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clinicbase-coverage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'processinfo'));
  await mkdir(path.join(dir, 'coverage'));
  const processes = { test: '/repo/test/http/login.test.ts', server: '/repo/src/server.ts', cli: 'ops@example.test' };
  for (const [name, script] of Object.entries(processes)) {
    await writeFile(path.join(dir, 'processinfo', `${name}.json`), JSON.stringify({ argv: ['/usr/bin/node', script] }));
    await writeFile(path.join(dir, 'coverage', `${name}.json`), '{}');
  }
  t.equal(await dropChildProcessCoverage(dir), 2, 'two child processes left out');
  t.same(await readdir(path.join(dir, 'coverage')), ['test.json'], "the test process's coverage stays");
});

t.test("tap report's own TAP lines do not end the run's output", async (t) => {
  const report = [
    'Statements   : 97.84% ( 5550/5672 )',
    '# ERROR: incomplete lines coverage (94.1%)',
    'TAP version 14',
    '1..0 # no tests found',
    '# { total: 0, pass: 0 }',
    '# time=21.56ms',
    '',
  ].join('\n');
  t.equal(withoutTapLines(report), ['Statements   : 97.84% ( 5550/5672 )', '# ERROR: incomplete lines coverage (94.1%)', ''].join('\n'));
});
