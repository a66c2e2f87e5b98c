// The permission matrix through GraphQL: one row per resource of PERMISSIONS × action × clinic
// role, run as that role's member of clinic A against the clinic's fixture rows. The expectation
// of each row is the hand-written matrix (helpers/matrix.ts), never PERMISSIONS itself (the code
// under test): PERMISSIONS only says which rows exist. Reads through the table's connection and
// node(id:); writes through the mutations named in helpers/graphql-tables.ts. An allowed role's
// write is there when read back as superuser; a refused one gets an error or no row, and nothing
// is written. An action GraphQL does not offer (GRAPHQL_TABLES names no mutation) must have no
// mutation at all, for any role.
import type { GraphQLField } from 'graphql';
import t, { type Test } from 'tap';
import { PERMISSIONS } from '../../src/auth/permissions.ts';
import { insertAsAdmin } from '../helpers/actors.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { errorCodes, graphql, type GraphqlResult } from '../helpers/graphql.ts';
import {
  connectionField,
  countRows,
  createInput,
  encodeNodeId,
  GRAPHQL_TABLES,
  graphqlSweep,
  inputFields,
  keyValues,
  mutationDocument,
  mutationKind,
  mutationNamed,
  mutationsOf,
  NOT_IN_GRAPHQL,
  type Row,
  rowOf,
  selectionOf,
  snake,
  type Sweep,
} from '../helpers/graphql-tables.ts';
import type { TestDatabase } from '../helpers/db.ts';
import { fixtureRefs } from '../helpers/isolation.ts';
import { type Command, MATRIX, mayRun, PATIENT_READS_FINAL_ONLY, ROLES, type Role } from '../helpers/matrix.ts';

const COMMANDS: Command[] = ['select', 'insert', 'update', 'delete'];

const MUTATION_OF: Record<Exclude<Command, 'select'>, 'create' | 'update' | 'delete'> = { insert: 'create', update: 'update', delete: 'delete' };

/** A refusal's message tells the client nothing of the database: no SQL, no policy, no constraint. */
function refusedQuietly(t: Test, result: GraphqlResult<unknown>, what: string): void {
  const messages = (result.errors ?? []).map((error) => error.message).join('\n');
  t.notMatch(messages, /row-level security|violates|permission denied|policy|constraint|select |insert |update /i, `${what}: no SQL in the error`);
}

t.test('every resource × action × role of PERMISSIONS through GraphQL, as the hand-written matrix expects', async (t) => {
  const sweep = await graphqlSweep(t);
  const { schema } = sweep;
  t.same(Object.keys(PERMISSIONS).sort(), Object.keys(MATRIX).sort(), 'PERMISSIONS has the resources of the hand-written matrix');
  const tokens = Object.fromEntries(await Promise.all(ROLES.map(async (role) => [role, await sweep.token(role)] as const))) as Record<Role, string>;

  for (const resource of Object.keys(PERMISSIONS)) {
    const hidden = NOT_IN_GRAPHQL[resource];
    if (hidden) {
      t.equal(schema.getType(hidden), undefined, `${resource}: not exposed, no type ${hidden}`);
      continue;
    }
    const entry = GRAPHQL_TABLES[resource];
    if (!entry) {
      t.fail(`${resource}: add it to GRAPHQL_TABLES (helpers/graphql-tables.ts)`);
      continue;
    }
    t.test(resource, async (t) => {
      const mutations = mutationsOf(schema, entry.type);
      for (const command of COMMANDS) {
        if (command === 'select') {
          for (const role of ROLES) await checkSelect(t, sweep, resource, role, tokens[role]);
          continue;
        }
        const name = entry[MUTATION_OF[command]];
        const offered = mutations.filter((mutation) => mutationKind(mutation) === command).map((mutation) => mutation.name);
        if (!name) {
          t.same(offered, [], `${command}: GraphQL offers no such mutation, to any role`);
          continue;
        }
        t.ok(offered.includes(name), `${command}: ${name} exists`);
        const mutation = mutationNamed(schema, name)!;
        for (const role of ROLES) {
          const check = { insert: checkInsert, update: checkUpdate, delete: checkDelete }[command];
          await check(t, sweep, resource, mutation, role, tokens[role]);
        }
      }
    });
  }
});

async function checkSelect(t: Test, { app, schema, rows, clinics }: Sweep, resource: string, role: Role, token: string): Promise<void> {
  const type = GRAPHQL_TABLES[resource]!.type;
  // A patient reads the clinical tables' rows once final only (footnote 7): their final row, as the SQL sweep checks it.
  const own = role === 'patient' && PATIENT_READS_FINAL_ONLY.has(resource) ? rows[resource]!.final!.a : rows[resource]!.a;
  const allowed = mayRun(resource, role, 'select');
  const field = connectionField(schema, type)!;
  const result = await graphql(app, token, {
    query: `query ($id: ID!) { list: ${field.name} { nodes { rowId } } node(id: $id) { id } }`,
    variables: { id: encodeNodeId([type, clinics.a, own]) },
  });
  const data = result.data as { list: { nodes: { rowId: string }[] }; node: unknown } | null;
  t.equal(data?.list.nodes.some((node) => node.rowId === own) ?? false, allowed, `select ${role}: the list ${allowed ? 'has' : 'has not'} the row`);
  t.equal(Boolean(data?.node), allowed, `select ${role}: node(id:) ${allowed ? 'finds' : 'does not find'} the row`);
}

async function checkInsert(t: Test, sweep: Sweep, resource: string, mutation: GraphQLField<unknown, unknown>, role: Role, token: string): Promise<void> {
  const { app, db, rows, clinics } = sweep;
  const allowed = mayRun(resource, role, 'insert');
  const before = await countRows(db, resource);
  const input = createInput(mutation, resource, fixtureRefs(db, rows, clinics, 'a'));
  const result = await graphql(app, token, { query: mutationDocument(mutation), variables: { input } });
  const written = (await countRows(db, resource)) - before;
  t.equal(
    written,
    allowed ? 1 : 0,
    `insert ${role}: ${allowed ? 'one row written' : 'nothing written'} (${JSON.stringify(result.errors?.map((e) => e.message))})`,
  );
  if (allowed) t.same(result.errors, undefined, `insert ${role}: no error`);
  else {
    // The database's refusal (RLS, 42501) as REST answers it.
    t.same(errorCodes(result), ['FORBIDDEN'], `insert ${role}: FORBIDDEN`);
    refusedQuietly(t, result, `insert ${role}`);
  }
}

async function checkUpdate(t: Test, sweep: Sweep, resource: string, mutation: GraphQLField<unknown, unknown>, role: Role, token: string): Promise<void> {
  const { app, db, clinics } = sweep;
  const allowed = mayRun(resource, role, 'update');
  const { type, patch } = GRAPHQL_TABLES[resource]!;
  const target = await rowToChange(sweep, resource);
  const original = (await rowOf(db, resource, target.id))!;
  const input = { ...keyValues(Object.values(inputFields(mutation).getFields()), original, encodeNodeId([type, clinics.a, target.id])), patch };
  const result = await graphql(app, token, { query: mutationDocument(mutation), variables: { input } });
  const after = (await rowOf(db, resource, target.id))!;
  // Changed, not equal to the patch: the database may stamp a value of its own (a revocation's time).
  const changed = Object.keys(patch!).every((field) => JSON.stringify(after[snake(field)]) !== JSON.stringify(original[snake(field)]));
  t.equal(changed, allowed, `update ${role}: ${allowed ? 'changed' : 'unchanged'} (${JSON.stringify(result.errors?.map((e) => e.message))})`);
  if (!allowed) {
    t.same(after, original, `update ${role}: the row as it was`);
    refusedQuietly(t, result, `update ${role}`);
  }
  await target.done();
}

/**
 * A row of clinic A for one update: a fresh fixture row, deleted afterwards; or where the clinic has
 * one row only (its settings: a second is a unique violation), the fixture row, put back afterwards.
 */
async function rowToChange({ db, rows, clinics }: Sweep, resource: string): Promise<{ id: string; done(): Promise<void> }> {
  try {
    const id = await insertAsAdmin(db, clinics.a, resource, FIXTURES[resource]!(fixtureRefs(db, rows, clinics, 'a')));
    return { id, done: async () => void (await db.admin.query(`delete from ${resource} where id = $1`, [id])) };
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error;
    const id = rows[resource]!.a;
    const original = (await rowOf(db, resource, id))!;
    return { id, done: () => restore(db, resource, id, original) };
  }
}

/** Puts back every column of the row that differs from `original` (as superuser). */
async function restore(db: TestDatabase, resource: string, id: string, original: Row): Promise<void> {
  const now = (await rowOf(db, resource, id))!;
  const changed = Object.keys(original).filter((column) => JSON.stringify(now[column]) !== JSON.stringify(original[column]));
  if (changed.length === 0) return;
  await db.admin.query(
    `update ${resource} t set ${changed.map((column) => `"${column}" = r."${column}"`).join(', ')} from jsonb_populate_record(null::${resource}, $2) r where t.id = $1`,
    [id, original],
  );
}

async function checkDelete(t: Test, sweep: Sweep, resource: string, mutation: GraphQLField<unknown, unknown>, role: Role, token: string): Promise<void> {
  const { app, db, rows, clinics } = sweep;
  const allowed = mayRun(resource, role, 'delete');
  const { type } = GRAPHQL_TABLES[resource]!;
  // A row of its own for each role, that nothing references.
  const id = await insertAsAdmin(db, clinics.a, resource, FIXTURES[resource]!(fixtureRefs(db, rows, clinics, 'a')));
  const row = (await rowOf(db, resource, id))!;
  const input = keyValues(Object.values(inputFields(mutation).getFields()), row, encodeNodeId([type, clinics.a, id]));
  const result = await graphql(app, token, { query: mutationDocument(mutation), variables: { input } });
  const gone = (await rowOf(db, resource, id)) === undefined;
  t.equal(gone, allowed, `delete ${role}: ${allowed ? 'deleted' : 'still there'} (${JSON.stringify(result.errors?.map((e) => e.message))})`);
  if (!allowed) {
    // A row the role may not delete is one it cannot find, as REST answers an id it cannot see.
    t.same(errorCodes(result), ['NOT_FOUND'], `delete ${role}: NOT_FOUND`);
    refusedQuietly(t, result, `delete ${role}`);
  }
}

t.test('a patient sees their own record and its rows only, through every connection and relation', async (t) => {
  const sweep = await graphqlSweep(t);
  const { db, clinics, rows, tables, app, schema } = sweep;
  // Another patient of clinic A, with a row of their own in each table that references patients.
  const theirs: Record<string, string> = {};
  const refs = { ...fixtureRefs(db, rows, clinics, 'a'), idOf: (table: string) => theirs[table] ?? rows[table]!.a };
  theirs['app_public.patients'] = await insertAsAdmin(db, clinics.a, 'app_public.patients', FIXTURES['app_public.patients']!(refs));
  const referencing = Object.keys(FIXTURES).filter((table) =>
    tables.find((candidate) => candidate.qualified === table)?.references.some((ref) => ref.target === 'app_public.patients'),
  );
  for (const table of referencing) theirs[table] = await insertAsAdmin(db, clinics.a, table, FIXTURES[table]!(refs));
  t.ok(referencing.length >= 5, `the other patient has rows in ${referencing.join(', ')}`);

  const token = await sweep.token('patient');
  // Of the clinical tables a patient reads once final (footnote 7), their own row is the final one.
  const own = Object.fromEntries(referencing.map((table) => [table, PATIENT_READS_FINAL_ONLY.has(table) ? rows[table]!.final!.a : rows[table]!.a]));
  for (const [table, entry] of Object.entries(GRAPHQL_TABLES)) {
    const type = schema.getType(entry.type) as Parameters<typeof selectionOf>[0];
    const field = connectionField(schema, entry.type)!;
    const result = await graphql(app, token, `{ list: ${field.name} { nodes { ${selectionOf(type)} } } }`);
    const text = JSON.stringify(result.data);
    t.same(
      Object.values(theirs).filter((id) => text.includes(id)),
      [],
      `${field.name} (with its relations): nothing of the other patient`,
    );
    if (own[table]) t.ok(text.includes(own[table]), `${field.name}: the patient's own row is there`);
  }
});
