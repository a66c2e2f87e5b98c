// The cross-clinic attacks of REST again, through GraphQL: clinic A's tokens, in every role,
// against clinic B's rows (a fixture row in every tenant table of each clinic, the SQL sweep's:
// helpers/isolation.ts). Every row type of the schema is swept by introspection (names in
// helpers/graphql-tables.ts): lists and relations, node ids and lookups, mutations by every key,
// filters, references into B, clinicId in inputs, batches and aliases. Success means no id of
// clinic B in any answer, and every row of B as it was, read back as superuser.
import { randomUUID } from 'node:crypto';
import { getNamedType, type GraphQLField, isInputObjectType } from 'graphql';
import t, { type Test } from 'tap';
import type { ClinicRole } from '../../src/db/tenant.ts';
import { actorIn } from '../helpers/actors.ts';
import { sqlstateOf } from '../helpers/db.ts';
import { errorCodes, graphql, type GraphqlResult } from '../helpers/graphql.ts';
import {
  camel,
  CLINIC_TYPE,
  connectionField,
  countRows,
  createInput,
  decodeNodeId,
  encodeNodeId,
  GRAPHQL_TABLES,
  graphqlSweep,
  inputFields,
  keyValues,
  lookupDocument,
  lookupFields,
  mutationDocument,
  mutationsOf,
  NOT_IN_GRAPHQL,
  payloadRowField,
  rowOf,
  rowTypes,
  selectionOf,
  tableType,
} from '../helpers/graphql-tables.ts';
import { deletable, fixtureRefs } from '../helpers/isolation.ts';
import { ROLES } from '../helpers/matrix.ts';

t.test('clinic A never sees nor changes clinic B through GraphQL', async (t) => {
  const sweep = await graphqlSweep(t);
  const { db, clinics, tables, rows, app, schema } = sweep;
  const tokens = Object.fromEntries(await Promise.all(ROLES.map(async (role) => [role, await sweep.token(role)] as const))) as Record<ClinicRole, string>;
  const exposed = tables.filter((table) => GRAPHQL_TABLES[table.qualified] && tableType(schema, table.qualified));
  const tableOf = (qualified: string) => tables.find((table) => table.qualified === qualified)!;

  // Every id of clinic B: the clinic, every fixture row, every member and account.
  const idsOfB = [
    clinics.b,
    ...Object.values(rows).flatMap((row) => [row.b, ...(row.unreferenced ? [row.unreferenced.b] : [])]),
    ...ROLES.flatMap((role) => Object.values(actorIn(db, clinics.b, role))),
  ];
  // Each id of A → the id of B's row in the same place (fixture rows, members of the same role, the clinic).
  const counterpartInB = new Map<string, string>([
    [clinics.a, clinics.b],
    ...Object.values(rows).flatMap((row) => [[row.a, row.b] as const, ...(row.unreferenced ? [[row.unreferenced.a, row.unreferenced.b] as const] : [])]),
    ...ROLES.flatMap((role) => {
      const [inA, inB] = [actorIn(db, clinics.a, role), actorIn(db, clinics.b, role)];
      return [[inA.member, inB.member] as const, [inA.account, inB.account] as const];
    }),
  ]);
  const leaksOf = (result: GraphqlResult<unknown>) => {
    const text = JSON.stringify({ data: result.data, errors: result.errors });
    return idsOfB.filter((id) => text.includes(id));
  };
  const noLeak = (t: Test, result: GraphqlResult<unknown>, what: string) => t.same(leaksOf(result), [], `${what}: no id of clinic B`);
  // Each of B's rows as superuser sees it now, to compare with after the attacks.
  const snapshotOfB = async () =>
    Object.fromEntries(
      await Promise.all(
        Object.entries(rows).flatMap(([table, row]) =>
          // A variant's rows (`<table>#<variant>`, helpers/fixtures.ts) are rows of its table.
          [row.b, ...(row.unreferenced ? [row.unreferenced.b] : [])].map(async (id) => [id, await rowOf(db, table.split('#')[0]!, id)] as const),
        ),
      ),
    );
  const before = await snapshotOfB();

  t.test('every row type of the schema is a table the sweeps know, and every readable tenant table is exposed', async (t) => {
    const known = new Set([...Object.values(GRAPHQL_TABLES).map((entry) => entry.type), CLINIC_TYPE]);
    t.same(
      rowTypes(schema)
        .map((type) => type.name)
        .filter((name) => !known.has(name)),
      [],
      'add the table to GRAPHQL_TABLES (helpers/graphql-tables.ts)',
    );
    const readable = tables
      .filter((table) => table.schema === 'app_public' && table.privileges.has('select') && !NOT_IN_GRAPHQL[table.qualified])
      .map((table) => table.qualified);
    t.same(
      readable.filter((table) => !tableType(schema, table) || !connectionField(schema, GRAPHQL_TABLES[table]!.type)),
      [],
      'each has its type and connection (but those NOT_IN_GRAPHQL names)',
    );
    t.same(
      Object.values(NOT_IN_GRAPHQL).filter((type) => schema.getType(type)),
      [],
      'the tables NOT_IN_GRAPHQL names have no type',
    );
    t.ok(exposed.length >= 11, `${exposed.length} tables swept`);
  });

  t.test('lists: every connection with one level of relations, as every role of A, holds no row of B', async (t) => {
    for (const table of exposed) {
      const type = tableType(schema, table.qualified)!;
      const field = connectionField(schema, type.name)!;
      const seenBy: ClinicRole[] = [];
      for (const role of ROLES) {
        // The largest page: the default one (20 rows, in key order, random ids) can miss A's row of a
        // table the sweep itself fills, such as the chart access log every chart read writes to.
        const result = await graphql(app, tokens[role], `{ list: ${field.name}(first: 100) { nodes { ${selectionOf(type)} } } }`);
        t.equal(result.status, 200, `${field.name} as ${role}`);
        t.same(result.errors, undefined, `${field.name} as ${role}: no errors`);
        noLeak(t, result, `${field.name} as ${role}`);
        const nodes = (result.data as { list: { nodes: { rowId: string }[] } }).list.nodes;
        if (nodes.some((node) => node.rowId === rows[table.qualified]!.a)) seenBy.push(role);
      }
      t.not(seenBy.length, 0, `${field.name}: some role of A sees A's row (the check would prove nothing otherwise)`);
    }
  });

  t.test("the tenant root: A's clinic only, B's by id or slug is unknown", async (t) => {
    for (const role of ROLES) {
      const result = await graphql(app, tokens[role], {
        query: `query ($b: UUID!, $node: ID!) { clinics { nodes { ${selectionOf(schema.getType(CLINIC_TYPE) as never)} } } byId: clinic(rowId: $b) { id } bySlug: clinicBySlug(slug: "clinic-b") { id } byNode: node(id: $node) { id } }`,
        variables: { b: clinics.b, node: encodeNodeId([CLINIC_TYPE, clinics.b]) },
      });
      noLeak(t, result, `clinics as ${role}`);
      t.same(result.errors, undefined, `clinics as ${role}: no errors`);
      t.match(result.data, { clinics: { nodes: [{ rowId: clinics.a }] }, byId: null, bySlug: null, byNode: null }, `as ${role}`);
      const { nodes } = (result.data as { clinics: { nodes: { id: string }[] } }).clinics;
      t.same(
        nodes.map((node) => node.id),
        [encodeNodeId([CLINIC_TYPE, clinics.a])],
        "one clinic, its node id encoded as the test encodes B's",
      );
    }
    const settings = await graphql(app, tokens.clinic_admin, '{ clinicSettings { nodes { clinic { rowId } } } }');
    t.same(settings.data, { clinicSettings: { nodes: [{ clinic: { rowId: clinics.a } }] } }, "traversing to the clinic from A's rows gives A");
  });

  t.test("node(id:) and every lookup with B's keys and node ids, re-encoded every way, is unknown", async (t) => {
    for (const table of exposed) {
      const type = tableType(schema, table.qualified)!;
      const { a, b } = rows[table.qualified]!;
      const own = await nodeIdOfA(table.qualified, type.name);
      const parts = decodeNodeId(own);
      t.equal(encodeNodeId(parts), own, `${type.name}: node ids are encoded as the test encodes them`);
      t.same(parts, [type.name, clinics.a, a], `${type.name}: [type, clinic_id, id]`);
      const other = Object.values(GRAPHQL_TABLES).find((entry) => entry.type !== type.name)!.type;
      const variants: Record<string, unknown[]> = {
        "B's own": [type.name, clinics.b, b],
        "A's clinic, B's row": [type.name, clinics.a, b],
        "B's clinic, A's row": [type.name, clinics.b, a],
        'keys swapped': [type.name, b, clinics.b],
        'row id alone': [type.name, b],
        'another type': [other, clinics.b, b],
        'the table name': [table.name, clinics.b, b],
      };
      const bRow = (await rowOf(db, table.qualified, b))!;
      for (const role of ROLES) {
        for (const [variant, encoded] of Object.entries(variants)) {
          const result = await graphql(app, tokens[role], { query: 'query ($id: ID!) { node(id: $id) { id } }', variables: { id: encodeNodeId(encoded) } });
          t.equal((result.data as { node?: unknown } | null)?.node ?? null, null, `node(${type.name}: ${variant}) as ${role}`);
          noLeak(t, result, `node(${type.name}: ${variant})`);
        }
        for (const field of lookupFields(schema, type.name)) {
          const variables = keyValues(field.args, bRow, encodeNodeId(variants["B's own"]!));
          const result = await graphql(app, tokens[role], { query: lookupDocument(field), variables });
          noLeak(t, result, field.name);
          // By B's row id or node id: nothing. By another unique key (a patient number, a visit's
          // date and token), clinic A may have a row with the same values: its own, never B's.
          const found = (result.data as { result?: { id: string } | null } | null)?.result ?? null;
          if (field.args.some((arg) => arg.name === 'rowId' || arg.name === 'id'))
            t.equal(found, null, `${field.name}(${JSON.stringify(variables)}) as ${role}`);
          else t.ok(found === null || decodeNodeId(found.id).includes(clinics.a), `${field.name}(${JSON.stringify(variables)}) as ${role}: A's row or none`);
        }
      }
    }
  });

  t.test('a reference from A into B cannot exist: the database refuses it even planted as superuser', async (t) => {
    const IMMUTABLE = new Set(['app_public.consultation_addenda']);
    for (const table of exposed) {
      for (const ref of table.references) {
        const row = (await rowOf(db, table.qualified, rows[table.qualified]!.a))!;
        // B's counterpart of what A's row references (B's doctor for A's doctor), so that only the clinic is wrong.
        const targets = ref.columns.map((column) => counterpartInB.get(row[column] as string) ?? rows[ref.target]!.b);
        const assignments = ref.columns.map((column, i) => `"${column}" = $${i + 2}`).join(', ');
        const planted = db.admin.query(`update ${table.qualified} set ${assignments} where id = $1`, [rows[table.qualified]!.a, ...targets]);
        // 23503: the composite foreign key; 23514: a check of the same column that runs first
        // (doctor_id must name a doctor membership, of the row's clinic). A row nobody may ever
        // change (an addendum) is refused before its references are checked (CBLCK); its inserts
        // pointing into B are the SQL sweep's (helpers/isolation.ts). So is a consultation's patient,
        // which only a patient merge re-files (rule consultation_patient_changes_by_merge).
        const lockedFirst = IMMUTABLE.has(table.qualified) || (table.qualified === 'app_public.consultations' && ref.columns.includes('patient_id'));
        const refused = lockedFirst ? /^CBLCK$/ : /^(23503|23514)$/;
        t.match(await sqlstateOf(planted), refused, `${table.qualified}.${ref.columns.join(',')} → B's ${ref.target}: refused`);
      }
    }
    t.ok(
      exposed.some((table) => table.references.length > 0),
      'some table references another',
    );
  });

  t.test('creating rows that point into B is refused, nothing written', async (t) => {
    const attempted: string[] = [];
    for (const table of exposed) {
      const create = GRAPHQL_TABLES[table.qualified]!.create;
      if (!create || !schema.getMutationType()?.getFields()[create]) continue;
      const mutation = schema.getMutationType()!.getFields()[create]!;
      for (const ref of table.references) {
        const input = createInput(mutation, table.qualified, fixtureRefs(db, rows, clinics, 'a'));
        const row = Object.values(input)[0] as Record<string, unknown>;
        const fields = ref.columns.map(camel);
        // Only references a client may write (a column the input does not have fails validation, proving nothing).
        if (!fields.every((field) => field in row)) continue;
        for (const field of fields) row[field] = counterpartInB.get(row[field] as string) ?? rows[ref.target]!.b;
        attempted.push(`${create}.${fields.join(',')}`);
        const count = await countRows(db, table.qualified);
        const result = await graphql(app, tokens.clinic_admin, { query: mutationDocument(mutation), variables: { input } });
        t.not(result.errors, undefined, `${create} with ${ref.columns.join(',')} of B: refused`);
        noLeak(t, result, create);
        t.equal(await countRows(db, table.qualified), count, `${create} pointing into B: nothing written`);
      }
    }
    t.ok(attempted.length >= 5, `references tried: ${attempted.join(' ')}`);
  });

  t.test('clinicId is in no input: naming it fails validation, so no row is created in or moved to B', async (t) => {
    const mutations = Object.values(schema.getMutationType()!.getFields());
    const withClinicId = mutations.filter((mutation) =>
      Object.values(inputFields(mutation).getFields()).some((field) => {
        const named = getNamedType(field.type);
        return isInputObjectType(named) && 'clinicId' in named.getFields();
      }),
    );
    t.same(
      withClinicId.map((mutation) => mutation.name),
      [],
      'no row input or patch has clinicId',
    );
    const department = rows['app_public.departments']!;
    const attempts = {
      'create in B': `mutation { x: ${GRAPHQL_TABLES['app_public.departments']!.create}(input: { department: { code: "B1", name: "Into B", clinicId: "${clinics.b}" } }) { clientMutationId } }`,
      'move to B': `mutation { x: ${GRAPHQL_TABLES['app_public.departments']!.update}(input: { ${keyArguments('app_public.departments', department.a)} patch: { clinicId: "${clinics.b}" } }) { clientMutationId } }`,
    };
    const count = await countRows(db, 'app_public.departments');
    for (const [what, query] of Object.entries(attempts)) {
      const result = await graphql(app, tokens.clinic_admin, query);
      t.equal(result.status, 400, `${what}: the document does not validate`);
      t.match(result.errors, [{ message: /"clinicId" is not defined by type/ }]);
    }
    t.equal(await countRows(db, 'app_public.departments'), count, 'nothing created');
    t.equal(((await rowOf(db, 'app_public.departments', department.a)) as { clinic_id: string }).clinic_id, clinics.a, "A's row still A's");
  });

  t.test("every update and delete mutation, by every key of B's rows, as every role: nothing changes", async (t) => {
    for (const table of exposed) {
      const type = tableType(schema, table.qualified)!;
      const entry = GRAPHQL_TABLES[table.qualified]!;
      for (const mutation of mutationsOf(schema, type.name).filter((m) => m.name !== entry.create)) {
        const isDelete = !Object.values(inputFields(mutation).getFields()).some((field) => field.name === 'patch');
        const target = isDelete ? deletable(rows, table).b : rows[table.qualified]!.b;
        const rowField = payloadRowField(mutation, type.name);
        const document = mutationDocument(mutation, `${rowField} { id }`);
        const attacks = await attacksOn(table.qualified, type.name, mutation, target);
        // The same inputs with an id no row has: B's row must be answered exactly as a row that does not exist.
        const unknowns = await attacksOn(table.qualified, type.name, mutation, randomUUID(), target);
        for (const role of ROLES) {
          for (const [i, input] of attacks.entries()) {
            const result = await graphql(app, tokens[role], { query: document, variables: { input } });
            t.equal(result.status, 200, `${mutation.name}: the input validates, so the database is what refuses`);
            // A function returning setof (callNextVisit) answers [] where a row mutation answers null.
            const touched = [(result.data as { result: Record<string, unknown> | null } | null)?.result?.[rowField] ?? null]
              .flat()
              .filter((row) => row !== null);
            t.same(touched, [], `${mutation.name}(${JSON.stringify(input)}) as ${role}: no row`);
            // Another clinic's id is the client's mistake, never a server failure (nor an error in the log).
            t.notOk(errorCodes(result).includes('INTERNAL'), `${mutation.name} as ${role}: not INTERNAL (${errorCodes(result).join(', ')})`);
            noLeak(t, result, mutation.name);
            const unknown = await graphql(app, tokens[role], { query: document, variables: { input: unknowns[i] } });
            t.same(answerOf(result), answerOf(unknown), `${mutation.name} as ${role}: B's row answered as one that does not exist`);
          }
        }
      }
    }
    t.same(await snapshotOfB(), before, 'every row of B as it was');
  });

  t.test("filters and conditions naming B's clinic or rows find nothing", async (t) => {
    for (const table of exposed) {
      const type = tableType(schema, table.qualified)!;
      const field = connectionField(schema, type.name)!;
      for (const argument of ['filter', 'condition'] as const) {
        const arg = field.args.find((a) => a.name === argument);
        if (!arg) continue;
        const fields = (getNamedType(arg.type) as { getFields(): Record<string, unknown> }).getFields();
        const byClinic = argument === 'filter' ? `{ clinicId: { equalTo: "${clinics.b}" } }` : `{ clinicId: "${clinics.b}" }`;
        const byRow = argument === 'filter' ? `{ rowId: { in: ["${rows[table.qualified]!.b}"] } }` : `{ rowId: "${rows[table.qualified]!.b}" }`;
        for (const [what, value] of [
          ['clinicId', byClinic],
          ['rowId', byRow],
        ] as const) {
          for (const role of ROLES) {
            const result = await graphql(app, tokens[role], `{ list: ${field.name}(${argument}: ${value}) { totalCount nodes { rowId } } }`);
            if (what in fields) t.same(result.data, { list: { totalCount: 0, nodes: [] } }, `${field.name}(${argument}: ${what} of B) as ${role}`);
            else t.equal(result.status, 400, `${field.name}(${argument}: ${what}): no such field, the document does not validate`);
            noLeak(t, result, `${field.name}(${argument})`);
          }
        }
      }
    }
  });

  t.test('a batch of operations (a JSON array) is refused whole, nothing written', async (t) => {
    const count = await countRows(db, 'app_public.departments');
    const create = `mutation { ${GRAPHQL_TABLES['app_public.departments']!.create}(input: { department: { code: "BATCH", name: "Batched" } }) { clientMutationId } }`;
    const response = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: `Bearer ${tokens.clinic_admin}`, 'content-type': 'application/json' },
      payload: JSON.stringify([{ query: create }, { query: '{ departments { nodes { rowId } } }' }]),
    });
    t.equal(response.statusCode, 400);
    t.equal(await countRows(db, 'app_public.departments'), count, 'nothing created');
  });

  t.test("aliases of a mutation guessing B's ids: within the limit each is refused, beyond it the document is; nothing written", async (t) => {
    const mutation = schema.getMutationType()!.getFields()[GRAPHQL_TABLES['app_public.departments']!.delete!]!;
    const { b } = deletable(rows, tableOf('app_public.departments'));
    const guessing = async (count: number) => {
      const guesses = [b, ...Array.from({ length: count - 1 }, () => randomUUID())];
      const inputs = await Promise.all(guesses.map(async (id) => (await attacksOn('app_public.departments', 'Department', mutation, id, b))[0]!));
      const query = `mutation (${inputs.map((_, i) => `$i${i}: ${String(mutation.args[0]!.type)}`).join(', ')}) { ${inputs
        .map((_, i) => `a${i}: ${mutation.name}(input: $i${i}) { department { id } }`)
        .join(' ')} }`;
      return graphql(app, tokens.clinic_admin, { query, variables: Object.fromEntries(inputs.map((input, i) => [`i${i}`, input])) });
    };
    // 10 root fields, the most an operation may have (GRAPHQL_MAX_ROOT_FIELDS' default), 10 aliases.
    const within = await guessing(10);
    t.equal(within.errors?.length, 10, 'every alias refused');
    t.same(
      Object.values((within.data ?? {}) as Record<string, { department: unknown } | null>).filter((value) => value?.department),
      [],
      'no row deleted',
    );
    noLeak(t, within, 'aliases');
    // 21 aliases: one more than GRAPHQL_MAX_ALIASES' default; the document is refused before it runs.
    const beyond = await guessing(21);
    t.equal(beyond.status, 400);
    t.ok(errorCodes(beyond).includes('GRAPHQL_ALIAS_LIMIT'), `refused by the alias limit (${errorCodes(beyond).join(', ')})`);
    t.equal(beyond.data, undefined, 'nothing ran');
    t.same(await snapshotOfB(), before, 'every row of B as it was');
  });

  /** What a client learns from an answer: status, data and errors, without the ids of this request and occurrence. */
  function answerOf(result: GraphqlResult<unknown>): unknown {
    const errors = result.errors?.map(({ extensions, message, ...error }) => ({
      ...error,
      message: message.replace(/, id: '[^']*'/, ''),
      extensions: { ...extensions, errorId: undefined, requestId: undefined },
    }));
    return { status: result.status, data: result.data, errors };
  }

  /** The node id of A's row, read as the first role that sees it. */
  async function nodeIdOfA(table: string, typeName: string): Promise<string> {
    const field = connectionField(schema, typeName)!;
    const query = `query ($after: Cursor) { list: ${field.name}(after: $after) { nodes { id rowId } pageInfo { hasNextPage endCursor } } }`;
    type Page = { list: { nodes: { id: string; rowId: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
    for (const role of ROLES) {
      // Every page: the reads of patients above add rows to A's chart access log.
      for (let after: string | null = null, more = true; more; ) {
        const result: GraphqlResult<Page> = await graphql<Page>(app, tokens[role], { query, variables: { after } });
        const { nodes, pageInfo } = result.data!.list;
        const node = nodes.find((n) => n.rowId === rows[table]!.a);
        if (node) return node.id;
        [after, more] = [pageInfo.endCursor, pageInfo.hasNextPage];
      }
    }
    throw new Error(`no role of A sees A's ${table} row`);
  }

  /**
   * The inputs of an attack on the row `id` of B (read as superuser; `keysOf`: the row whose other
   * keys fill the input, when `id` is a guess): its keys as they are, its clinic swapped for A's,
   * and by node id, B's own and re-encoded with A's clinic.
   */
  async function attacksOn(
    table: string,
    typeName: string,
    mutation: GraphQLField<unknown, unknown>,
    id: string,
    keysOf = id,
  ): Promise<Record<string, unknown>[]> {
    const fields = Object.values(inputFields(mutation).getFields());
    const row = { ...(await rowOf(db, table, keysOf))!, id };
    const patch = fields.some((field) => field.name === 'patch') ? { patch: GRAPHQL_TABLES[table]!.patch } : {};
    const nodeIds = [encodeNodeId([typeName, clinics.b, id]), encodeNodeId([typeName, clinics.a, id])];
    const names = new Set(fields.map((field) => field.name));
    const variants = names.has('id')
      ? nodeIds.map((nodeId) => keyValues(fields, row, nodeId))
      : // A's clinic with B's row id; not with other keys, which may name A's own row (the same patient number).
        [keyValues(fields, row, ''), ...(names.has('clinicId') && names.has('rowId') ? [keyValues(fields, row, '', { clinicId: clinics.a })] : [])];
    // A unique key that is null in the row (a walk-in visit's appointment) names no row: nothing to attack by it.
    return variants.filter((keys) => Object.values(keys).every((value) => value != null)).map((keys) => ({ ...keys, ...patch }));
  }

  /** `clinicId: "…", rowId: "…",` or `rowId: "…",`: the update mutation's keys for a row of A, as the schema names them. */
  function keyArguments(table: string, id: string): string {
    const mutation = schema.getMutationType()!.getFields()[GRAPHQL_TABLES[table]!.update!]!;
    const names = Object.keys(inputFields(mutation).getFields());
    return `${names.includes('clinicId') ? `clinicId: "${clinics.a}", ` : ''}rowId: "${id}",`;
  }
});
