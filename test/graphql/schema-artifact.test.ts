// schema.graphql, committed at the repository root, must be the schema the app builds from this
// checkout's migrations (current.sql included, as the tests apply it), so every change to the API
// shows in review. `npm run graphql:schema` rewrites it.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { GRAPHQL_SCHEMA_FILE, renderGraphqlSchema } from '../../src/cli/graphql-schema.ts';
import { createTestDatabase } from '../helpers/db.ts';

/** The first lines where the two texts part, with their line numbers: enough to see what changed. */
function firstDifferences(committed: string, built: string, count = 5): string[] {
  const [a, b] = [committed.split('\n'), built.split('\n')];
  const differences: string[] = [];
  for (let line = 0; line < Math.max(a.length, b.length) && differences.length < count; line++) {
    if (a[line] !== b[line]) differences.push(`line ${line + 1}: committed ${JSON.stringify(a[line] ?? null)}, built ${JSON.stringify(b[line] ?? null)}`);
  }
  return differences;
}

t.test('schema.graphql is the schema the migrations build', async (t) => {
  const db = await createTestDatabase(t);
  const built = await renderGraphqlSchema(db.authenticatorUrl);
  const committed = await readFile(GRAPHQL_SCHEMA_FILE, 'utf8').catch(() => '');
  const differences = firstDifferences(committed, built);
  t.same(differences, [], 'schema.graphql is current; if not, run `npm run graphql:schema` and review the diff');
});

t.test('the schema is printed sorted: the same schema always prints the same text', async (t) => {
  const db = await createTestDatabase(t);
  const built = await renderGraphqlSchema(db.authenticatorUrl);
  const typeNames = [...built.matchAll(/^(?:type|input|enum|interface|scalar|union) (\w+)/gm)].map((match) => match[1]!);
  t.same(typeNames, [...typeNames].sort(), 'types in alphabetical order');
  t.equal(built, await renderGraphqlSchema(db.authenticatorUrl), 'built twice, printed the same');
});
