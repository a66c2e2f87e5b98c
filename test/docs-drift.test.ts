// The docs stay true to the tree. Every path a Markdown file of the project names in backticks
// exists: `src/…`, `test/…`, `scripts/…`, `migrations/…`, `policies/…`, `docs/…`, a folder
// README's paths relative to its folder, a bare file name such as `guard.ts` (anywhere in the
// tree). Every relative link points at a file that exists and, with a #fragment, at one of its
// headings. Placeholders (`src/modules/<feature>/`, `committed/NNNNNN[-message].sql`,
// `test/**/*.test.ts`) are skipped. README's npm scripts table lists exactly package.json's
// scripts, and its configuration table exactly the variables src/config.ts reads (plus the test
// harness's own); the SQLSTATE catalogue of migrations/README.md lists exactly the CB… codes the
// committed migrations raise, which src/errors.ts maps.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(import.meta.dirname, '..');
/** The folders a path in the docs may start with. */
const TOP = ['src', 'test', 'scripts', 'migrations', 'policies', 'docs'];
/** Not part of the project's tree: dependencies, and dot-folders (git, local data, tool output). */
const IGNORED = (name: string) => name === 'node_modules' || name.startsWith('.');

interface Reference {
  doc: string;
  line: number;
  /** As written in the doc. */
  text: string;
  problem: string;
}

/** The project's Markdown files: the top level's, docs/'s and each top-level folder's README. */
function markdownFiles(): string[] {
  const top = readdirSync(ROOT).filter((name) => name.endsWith('.md'));
  const docs = readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  const readmes = TOP.map((folder) => `${folder}/README.md`).filter((file) => exists(file));
  return [...top, ...docs, ...readmes];
}

function exists(relative: string): boolean {
  try {
    statSync(path.join(ROOT, relative));
    return true;
  } catch {
    return false;
  }
}

/** The base name of every file in the project's tree, for bare names such as `guard.ts`. */
function fileNames(dir = ROOT, names = new Set<string>()): Set<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (IGNORED(entry.name)) continue;
    if (entry.isDirectory()) fileNames(path.join(dir, entry.name), names);
    else names.add(entry.name);
  }
  return names;
}

const PLACEHOLDER = /[<>*[\]{}…]|NNN/;
const PREFIXED = new RegExp(`(?<![\\w./-])((?:${TOP.join('|')})/[^\\s\`'"(),;:]*)`, 'g');
// Lower case first: `.data/` and `DATA_DIR/pg` are made at run time, not part of the tree.
const RELATIVE = /^[a-z0-9][\w.-]*(?:\/[\w.-]+)*\/(?:[\w.-]+\.(?:ts|sql|md|json))?$/;
/** Folders the docs name as not built yet. */
const PLANNED = new Set(['src/worker/', 'worker/']);
const BARE_FILE = /^[\w.-]+\.(?:ts|sql|md)$/;

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const match of withoutFences(markdown).matchAll(/^#{1,6}\s+(.+)$/gm)) anchors.add(anchorOf(match[1]!));
  return anchors;
}

/** The text with fenced code blocks blanked out (line numbers kept): they hold code, not claims. */
function withoutFences(markdown: string): string {
  let inFence = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (/^\s*```/.test(line)) {
        inFence = !inFence;
        return '';
      }
      return inFence ? '' : line;
    })
    .join('\n');
}

/**
 * What is wrong with the paths and links of one Markdown file (`doc`, relative to the root), given
 * its text, whether a relative path exists, the base names present and the anchors of a file.
 */
function brokenReferences(
  doc: string,
  markdown: string,
  has: (relative: string) => boolean,
  names: Set<string>,
  anchors: (relative: string) => Set<string>,
): Reference[] {
  const folder = path.posix.dirname(doc);
  const broken: Reference[] = [];
  withoutFences(markdown)
    .split('\n')
    .forEach((line, index) => {
      const report = (text: string, problem: string) => broken.push({ doc, line: index + 1, text, problem });
      for (const [, span] of line.matchAll(/`([^`]+)`/g)) {
        if (PLANNED.has(span!)) continue;
        for (const [, found] of span!.matchAll(PREFIXED)) {
          const candidate = found!.replace(/\.$/, '');
          if (!PLACEHOLDER.test(candidate) && !has(candidate)) report(candidate, 'no such file or folder');
        }
        if (PLACEHOLDER.test(span!) || span!.startsWith(`${folder}/`) || TOP.some((top) => span!.startsWith(`${top}/`))) continue;
        if (RELATIVE.test(span!)) {
          const bases = folder === '.' ? ['.'] : [folder, ...TOP];
          if (!bases.some((base) => has(path.posix.join(base, span!)))) report(span!, `no such file or folder (relative to ${bases.join(', ')})`);
        } else if (BARE_FILE.test(span!) && !names.has(span!)) {
          report(span!, 'no file of that name anywhere in the project');
        }
      }
      for (const [, target] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [file = '', fragment] = target!.split('#');
        const relative = file ? path.posix.normalize(path.posix.join(folder, file)) : doc;
        if (file && !has(relative)) report(target!, 'link to a missing file');
        else if (fragment !== undefined && relative.endsWith('.md') && !anchors(relative).has(fragment)) {
          report(target!, `no heading #${fragment} in ${relative}`);
        }
      }
    });
  return broken;
}

t.test('every path and link in the docs exists', async (t) => {
  const names = fileNames();
  const anchors = (relative: string) => anchorsOf(readFileSync(path.join(ROOT, relative), 'utf8'));
  const docs = markdownFiles();
  t.ok(docs.includes('README.md') && docs.includes('docs/architecture.md') && docs.includes('test/README.md'), 'the docs are found');
  const broken = docs.flatMap((doc) => brokenReferences(doc, readFileSync(path.join(ROOT, doc), 'utf8'), exists, names, anchors));
  t.same(
    broken.map((b) => `${b.doc}:${b.line}: ${b.text}: ${b.problem}`),
    [],
  );
});

t.test('the check finds what it claims', async (t) => {
  const present = new Set(['src/app.ts', 'src/db', 'src/db/tenant.ts', 'test/helpers/db.ts', 'docs/a.md', 'test/README.md']);
  const has = (relative: string) => present.has(relative.replace(/\/$/, ''));
  const names = new Set(['app.ts', 'tenant.ts', 'db.ts', 'a.md']);
  const anchors = (relative: string) => (relative === 'docs/a.md' ? new Set(['request-flow']) : new Set<string>());
  const doc = [
    'Fine: `src/app.ts`, `node src/db/tenant.ts`, `src/db/`, `tenant.ts`, [flow](docs/a.md#request-flow),',
    '`src/modules/<feature>/index.ts`, `test/**/*.test.ts`, `migrations/committed/NNNNNN[-message].sql`.',
    '```',
    'src/gone.ts inside a fence is code',
    '```',
    'Broken: `src/modules/auth/service.ts`, `NOTES.md`, [gone](docs/b.md), [x](docs/a.md#missing),',
    '`cd src/gone && touch NNNNNN-x.sql`.',
  ].join('\n');
  t.same(
    brokenReferences('README.md', doc, has, names, anchors).map((b) => `${b.line}: ${b.text}`),
    ['6: src/modules/auth/service.ts', '6: NOTES.md', '6: docs/b.md', '6: docs/a.md#missing', '7: src/gone'],
  );
  // A folder README's relative paths resolve against its folder, then the top-level folders.
  t.same(
    brokenReferences('test/README.md', '`helpers/db.ts`, `db/`, `helpers/gone.ts`', has, names, anchors).map((b) => b.text),
    ['helpers/gone.ts'],
  );
  t.equal(anchorOf('Queries: camelCase in TypeScript, snake_case in SQL'), 'queries-camelcase-in-typescript-snake_case-in-sql');
  t.equal(anchorOf('Regenerating `policies/`'), 'regenerating-policies');
});

/** The body of README's section under `## heading`, up to the next `## `. */
function readmeSection(heading: string): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The first cell of each row of a Markdown table. */
const firstCells = (section: string) =>
  [...section.matchAll(/^\|\s*([^|]+?)\s*\|/gm)].map((m) => m[1]!).filter((cell) => !/^(-+|variable|script|I want to…)$/.test(cell));

t.test("README's npm scripts table lists package.json's scripts", async (t) => {
  const scripts = Object.keys(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>);
  const documented = firstCells(readmeSection('npm scripts')).map((cell) => /^`npm (?:run )?([\w:-]+)/.exec(cell)?.[1] ?? `(not a script: ${cell})`);
  t.ok(scripts.includes('test') && scripts.includes('db:commit'), 'package.json read');
  t.same([...new Set(documented)].sort(), [...scripts].sort());
});

t.test("README's configuration table lists the variables src/config.ts reads", async (t) => {
  const source = readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8');
  const schema = source.slice(source.indexOf('const envSchema'), source.indexOf('export interface LoadOptions'));
  const variables = [...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
  const fileVariables = [...(/FILE_VARIABLES = \[([^\]]*)\]/.exec(source)?.[1] ?? '').matchAll(/'([A-Z_]+)'/g)].map((m) => `${m[1]}_FILE`);
  t.ok(variables.includes('PORT') && variables.includes('DATABASE_URL') && fileVariables.includes('JWT_PRIVATE_KEY_FILE'), 'src/config.ts read');
  // Read by the test harness, not by the application: the table says so in their rows.
  const harness = ['TEST_DATABASE_URL', 'TEST_REDIS_URL'];
  const documented = firstCells(readmeSection('Configuration')).flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!));
  t.same([...documented].sort(), [...variables, ...fileVariables, ...harness].sort());
});

t.test("migrations/README.md's SQLSTATE catalogue lists the codes the SQL raises and src/errors.ts maps", async (t) => {
  const committed = path.join(ROOT, 'migrations/committed');
  // current.sql too: a code arrives with the work in progress that raises it, before db:commit.
  const sql = [
    ...readdirSync(committed)
      .filter((name) => name.endsWith('.sql'))
      .map((name) => readFileSync(path.join(committed, name), 'utf8')),
    readFileSync(path.join(ROOT, 'migrations/current.sql'), 'utf8'),
  ].join('\n');
  const raised = new Set([...sql.matchAll(/errcode\s*=\s*'(CB[0-9A-Z]{3})'/g)].map((m) => m[1]!));
  const errors = readFileSync(path.join(ROOT, 'src/errors.ts'), 'utf8');
  const appSqlstates = errors.slice(errors.indexOf('const APP_SQLSTATES'), errors.indexOf('};', errors.indexOf('const APP_SQLSTATES')));
  const mapped = new Set([...appSqlstates.matchAll(/^\s+(CB[0-9A-Z]{3}):/gm)].map((m) => m[1]!));
  const readme = readFileSync(path.join(ROOT, 'migrations/README.md'), 'utf8');
  const catalogue = readme.slice(readme.indexOf('## SQLSTATE catalogue'), readme.indexOf('### How Postgres errors reach the API'));
  const listed = new Set([...catalogue.matchAll(/^\| `(CB[0-9A-Z]{3})` \|/gm)].map((m) => m[1]!));
  t.ok(raised.has('CBAUD') && mapped.has('CBAUD'), 'the migrations and src/errors.ts read');
  t.same([...listed].sort(), [...raised].sort(), 'the catalogue lists what the migrations (committed and current.sql) raise');
  t.same([...mapped].sort(), [...raised].sort(), 'APP_SQLSTATES maps what the migrations (committed and current.sql) raise');
});
