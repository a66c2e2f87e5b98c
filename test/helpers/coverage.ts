// Coverage is measured by tap (V8 coverage of the .ts sources as Node runs them: type stripping
// leaves every line where it was, so no source map is needed) and held to the floor in
// package.json's "tap" section. That floor is the whole suite's: test/run.ts asks tap for no
// coverage when the run names files, unless a report is asked for (then it is shown, not held to
// the floor).

/** The tap arguments test/run.ts adds to `args` (what `npm test -- …` passed). */
export function coverageArgs(args: readonly string[]): string[] {
  const namesFiles = args.some((arg) => !arg.startsWith('-'));
  if (!namesFiles) return [];
  return args.some((arg) => arg.startsWith('--coverage-report')) ? ['--allow-incomplete-coverage'] : ['--disable-coverage'];
}
