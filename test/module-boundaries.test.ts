// The import rule of src/README.md: a feature module imports no other module, a module's
// index.ts is its only public surface, and the shared places (src/auth, src/crypto, src/db, src/http, src/storage, src/records) import
// no module at all. Read from the import statements of every file under src/.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

const SRC = path.resolve(import.meta.dirname, '../src');
const SHARED = ['auth', 'crypto', 'db', 'http', 'storage', 'records'];

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });

/** Every relative import of a file (static, re-export or dynamic), as a path under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1]!);
  return specifiers.map((specifier) => path.relative(SRC, path.resolve(path.dirname(file), specifier)));
}

/** The module a path under src/ belongs to ('auth' for modules/auth/sessions.ts), or undefined. */
const moduleOf = (relative: string) => /^modules\/([^/]+)\//.exec(relative)?.[1];

function violations(): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = path.relative(SRC, file);
    for (const to of importsOf(file)) {
      const target = moduleOf(to);
      if (target === undefined || target === moduleOf(from)) continue;
      const owner = from.split('/')[0]!;
      if (moduleOf(from) !== undefined) found.push(`${from} imports another module: ${to}`);
      else if (SHARED.includes(owner)) found.push(`${from} (shared code) imports a module: ${to}`);
      else if (to !== `modules/${target}/index.ts`) found.push(`${from} imports a module's internals: ${to}`);
    }
  }
  return found;
}

t.test('modules stay apart', async (t) => {
  t.same(violations(), []);
});

t.test('the check sees imports', async (t) => {
  // Not vacuous: app.ts registers every module through its index.ts.
  t.ok(importsOf(path.join(SRC, 'app.ts')).includes('modules/auth/index.ts'));
  t.ok(importsOf(path.join(SRC, 'modules/auth/sessions.ts')).includes('modules/auth/queries.ts'));
});
