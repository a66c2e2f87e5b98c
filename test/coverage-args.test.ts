// The coverage floor is the whole suite's: a run that names files measures no coverage, or shows
// it without holding it to the floor when a report is asked for.
import t from 'tap';
import { coverageArgs } from './helpers/coverage.ts';

t.test('which runs are held to the coverage floor', async (t) => {
  t.same(coverageArgs([]), [], 'npm test: the whole suite, measured and held to the floor');
  t.same(coverageArgs(['--coverage-report=html', '--coverage-report=text-summary']), [], 'npm run test:coverage: the same, with a report');
  t.same(coverageArgs(['test/http/login.test.ts']), ['--disable-coverage'], 'named files: nothing measured');
  t.same(coverageArgs(['--coverage-report=html', 'test/http/login.test.ts']), ['--allow-incomplete-coverage'], 'named files with a report: shown, not held');
});
