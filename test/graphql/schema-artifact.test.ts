// schema.graphql, committed at the repository root, must be the schema the app builds from this
// checkout's migrations (current.sql included, as the tests apply it), so every change to the API
// shows in review. `npm run graphql:schema` rewrites it.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { GRAPHQL_SCHEMA_FILE, renderGraphqlSchema } from '../../src/cli/graphql-schema.ts';
import { createTestDatabase } from '../helpers/db.ts';

/** Where the two texts part: the first differing line of each, and their lengths (enough to find the change). */
function firstDifference(committed: string, built: string): string | null {
  if (committed === built) return null;
  const [a, b] = [committed.split('\n'), built.split('\n')];
  let line = 0;
  while (a[line] === b[line]) line++;
  return `line ${line + 1}: committed ${JSON.stringify(a[line] ?? '(end)')}, built ${JSON.stringify(b[line] ?? '(end)')} (${a.length} lines committed, ${b.length} built)`;
}

t.test('schema.graphql is the schema the migrations build', async (t) => {
  const db = await createTestDatabase(t);
  const built = await renderGraphqlSchema(db.authenticatorUrl);
  const committed = await readFile(GRAPHQL_SCHEMA_FILE, 'utf8').catch(() => '');
  t.equal(firstDifference(committed, built), null, 'schema.graphql is current; if not, run `npm run graphql:schema` and review `git diff schema.graphql`');
});

t.test('the schema is printed sorted: the same schema always prints the same text', async (t) => {
  const db = await createTestDatabase(t);
  const built = await renderGraphqlSchema(db.authenticatorUrl);
  const typeNames = [...built.matchAll(/^(?:type|input|enum|interface|scalar|union) (\w+)/gm)].map((match) => match[1]!);
  t.same(typeNames, [...typeNames].sort(), 'types in alphabetical order');
  t.equal(built, await renderGraphqlSchema(db.authenticatorUrl), 'built twice, printed the same');
});
