// Where a process spent its CPU: a V8 .cpuprofile (node --cpu-prof, or the inspector's Profiler)
// summarised by self time: the functions first, then the same time grouped by where the code lives
// (an npm package, the app's own src/<folder>, Node's internals, or V8's (garbage collector) and
// (program)), then grouped by who asked for it: Node's internals and V8's native functions (a
// socket write, a string's encoding) charged to the nearest package or app frame that called them.
// Idle time is left out: shares are of busy time. `npm run bench:http` with BENCH_PROFILE=1 prints
// this for the API server; standalone:
// `node scripts/cpu-profile-summary.ts file.cpuprofile [how many functions, default 15]`.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  functions: { name: string; where: string; selfMs: number }[];
  places: { where: string; selfMs: number }[];
  /** Node's internals and native code charged to the nearest package or app frame that called them. */
  callers: { where: string; selfMs: number }[];
}

export function summariseProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map(profile.nodes.flatMap((node) => (node.children ?? []).map((child) => [child, node.id] as const)));
  const byFunction = new Map<string, { name: string; where: string; selfMs: number }>();
  const byCaller = new Map<string, number>();
  let idleMs = 0;
  // A sample's time is the delta that follows it (the profiler's own convention in DevTools).
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    if (functionName === '(idle)') {
      idleMs += ms;
      return;
    }
    const where = placeOf(url, functionName);
    const key = `${functionName}|${url}|${lineNumber}`;
    const entry = byFunction.get(key) ?? { name: `${functionName || '(anonymous)'}${url ? ` ${shortUrl(url)}:${lineNumber + 1}` : ''}`, where, selfMs: 0 };
    entry.selfMs += ms;
    byFunction.set(key, entry);
    const caller = responsiblePlace(id, nodes, parents) ?? where;
    byCaller.set(caller, (byCaller.get(caller) ?? 0) + ms);
  });
  const functions = [...byFunction.values()].sort((a, b) => b.selfMs - a.selfMs);
  const places = new Map<string, number>();
  for (const f of functions) places.set(f.where, (places.get(f.where) ?? 0) + f.selfMs);
  return {
    busyMs: functions.reduce((sum, f) => sum + f.selfMs, 0),
    idleMs,
    functions: functions.slice(0, top),
    places: sortedPlaces(places),
    callers: sortedPlaces(byCaller),
  };
}

const sortedPlaces = (places: Map<string, number>) => [...places].map(([where, selfMs]) => ({ where, selfMs })).sort((a, b) => b.selfMs - a.selfMs);

/** The place of the nearest frame, from the sample's own up, that is a package's or the app's. */
function responsiblePlace(id: number, nodes: Map<number, ProfileNode>, parents: Map<number, number>): string | undefined {
  for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
    const { url, functionName } = nodes.get(at)!.callFrame;
    const where = placeOf(url, functionName);
    if (url !== '' && !url.startsWith('node:')) return where;
  }
  return undefined;
}

/** The npm package (scoped names whole), `src/<folder>`, `node:internal`, or V8 for frames without a script. */
function placeOf(url: string, functionName: string): string {
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(url);
  if (inPackage) return inPackage[1]!;
  const inApp = /\/(src\/[^/]+|scripts)\//.exec(url);
  if (inApp) return inApp[1]!.replace(/\.ts$/, '');
  if (url.startsWith('node:')) return 'node (internals)';
  if (url === '') return functionName.startsWith('(') ? `V8 ${functionName}` : 'V8 (native)';
  return url;
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/(node_modules|src|scripts)\//, '$1/').replace(/^.*node_modules\//, '');
}

export function formatSummary(summary: ProfileSummary): string {
  const share = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1)} %`;
  return [
    `Busy ${Math.round(summary.busyMs)} ms, idle ${Math.round(summary.idleMs)} ms (shares below are of busy time).`,
    '',
    '| function (self time) | where | ms | share |',
    '|---|---|---|---|',
    ...summary.functions.map((f) => `| \`${f.name}\` | ${f.where} | ${Math.round(f.selfMs)} | ${share(f.selfMs)} |`),
    '',
    '| where (all functions) | ms | share |',
    '|---|---|---|',
    ...summary.places.slice(0, 20).map((p) => `| ${p.where} | ${Math.round(p.selfMs)} | ${share(p.selfMs)} |`),
    '',
    '| who asked (Node internals and native code charged to their caller) | ms | share |',
    '|---|---|---|',
    ...summary.callers.slice(0, 20).map((p) => `| ${p.where} | ${Math.round(p.selfMs)} | ${share(p.selfMs)} |`),
  ].join('\n');
}

export async function readProfile(file: string): Promise<CpuProfile> {
  return JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node scripts/cpu-profile-summary.ts <file.cpuprofile> [functions, default 15]');
    process.exit(2);
  }
  console.log(formatSummary(summariseProfile(await readProfile(file), top ? Number(top) : 15)));
}
