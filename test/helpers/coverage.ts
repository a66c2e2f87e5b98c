// Coverage is measured by tap (V8 coverage of the .ts sources as Node runs them: type stripping
// leaves every line where it was, so no source map is needed) and held to the floor in
// package.json's "tap" section. That floor is the whole suite's, and it counts the test processes
// only: the servers and CLI commands they start as child processes are left out, because merging
// their V8 coverage with the test processes' corrupts the merged report (one run measured 86.9 %
// of lines with them and 97.8 % without). So for a whole run test/run.ts lets tap measure without
// judging, drops the children's files, then has `tap report` hold the rest to the floor. A run
// that names files measures nothing, unless a report is asked for (then it is shown, not held to
// the floor).
import { spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const REPORT_ARG = /^--coverage-report(=|$)/;
const NO_FLOOR = ['--statements=0', '--branches=0', '--functions=0', '--lines=0'];

/** How test/run.ts runs tap for `args` (what `npm test -- …` passed), and what it does after. */
export interface CoveragePlan {
  tapArgs: string[];
  /** The reporters `tap report` uses after the run to hold the floor; undefined: no floor. */
  floorReporters: string[] | undefined;
}

export function coveragePlan(args: readonly string[]): CoveragePlan {
  const namesFiles = args.some((arg) => !arg.startsWith('-'));
  const asksReport = args.some((arg) => REPORT_ARG.test(arg));
  if (namesFiles) {
    return { tapArgs: [asksReport ? '--allow-incomplete-coverage' : '--disable-coverage', ...args], floorReporters: undefined };
  }
  const reporters = args.filter((arg) => REPORT_ARG.test(arg)).map((arg) => arg.replace(REPORT_ARG, ''));
  return {
    // A floor of zero for tap's own check: the floor is held afterwards, over the test processes.
    tapArgs: [...NO_FLOOR, '--coverage-report=json-summary', ...args.filter((arg) => !REPORT_ARG.test(arg))],
    floorReporters: reporters.length > 0 ? reporters : ['text-summary'],
  };
}

/** Removes the coverage of every process that was not a test file (servers, CLI commands). */
export async function dropChildProcessCoverage(tapDir: string): Promise<number> {
  let dropped = 0;
  for (const entry of await readdir(path.join(tapDir, 'processinfo'))) {
    const info = JSON.parse(await readFile(path.join(tapDir, 'processinfo', entry), 'utf8')) as { argv?: string[] };
    const script = info.argv?.at(-1) ?? '';
    if (script.endsWith('.test.ts')) continue;
    await rm(path.join(tapDir, 'coverage', entry), { force: true });
    dropped++;
  }
  return dropped;
}

/**
 * `tap report` over what is left: prints the reporters' output and exits 1 below the floor. Its
 * own TAP lines (an empty plan, "total: 0") are not passed on: the run's closing lines stay the
 * suite's own count.
 */
export function holdCoverageFloor(reporters: string[]): Promise<number> {
  const tap = path.join(path.dirname(createRequire(import.meta.url).resolve('tap/package.json')), 'dist/esm/run.mjs');
  const child = spawn(process.execPath, [tap, 'report', ...reporters], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      process.stdout.write(withoutTapLines(output));
      resolve(code ?? (signal ? 1 : 0));
    }),
  );
}

const TAP_LINE = /^(TAP version \d+|1\.\.0\b.*|# \{ total: .*\}|# time=.*)$/;

export function withoutTapLines(output: string): string {
  return output
    .split('\n')
    .filter((line) => !TAP_LINE.test(line.trim()))
    .join('\n');
}
