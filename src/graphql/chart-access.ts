// GraphQL's side of the chart access log (app_public.patient_access_log; REST's side is
// src/records/chart-access.ts): a GraphQL read of a patient's record, history or files is recorded
// as REST records it, and no value of such a row reaches the client before its read is recorded.
//
// - By type, not by field: every leaf field (scalar or enum) of the GraphQL object types of the
//   chart tables (CHART_TABLES, recognised by their pg codec) waits for a ChartReadStep of its
//   row. Whatever path reaches a Patient, PatientHistory or File (a lookup, node(id:), a
//   connection, a relation, a function, a mutation's payload, a relation added later) ends in
//   those fields, so it is recorded; a row that was not found or not visible under RLS plans no
//   field value and records nothing. As in REST, a patient's summary (what a search answers: name,
//   number, date of birth, sex, phone, status) is not a read of the record: a day's schedule with
//   the patients' names records nothing, their address or blood group does.
// - Batched: the fields of one row share one ChartReadStep (deduplicated by Grafast), which runs
//   once per batch of rows (a whole connection page, every appointment's patient): one statement
//   for all of them, and each (action, patient) once per request.
// - In the request's own context: a member's read is inserted with the request's pgSettings, so
//   the log's column defaults take who, where and which request from app.user_id, app.client_ip
//   and app.request_id, and its insert policy holds the reader to their own membership (a patient
//   to their own record), as REST's insert. It is its own transaction, right after the read's (the
//   GraphQL adaptor runs each PostGraphile query batch as one): the read's values are held back
//   until it commits, and if it fails the fields are errors, not data.
// - A support token's transactions are read-only: its reads are recorded as the operator
//   (app_platform) through app_hidden.record_support_chart_access, naming the grant, as REST does;
//   an ended grant records nothing and answers no data.
import type { FastifyRequest } from 'fastify';
import type { PgCodec, PgExecutor, PgExecutorContext } from 'postgraphile/@dataplan/pg';
import { access, context, type ExecutionDetails, type GrafastResultsList, Step, UnbatchedStep } from 'postgraphile/grafast';
import { getNamedType, isLeafType } from 'postgraphile/graphql';
import { wrapPlans } from 'postgraphile/utils';
import { AppError } from '../errors.ts';
import type { ChartAccess } from '../records/chart-access.ts';

type ChartAction = Extract<ChartAccess['action'], 'read_record' | 'read_files' | 'read_lab'>;

interface ChartTable {
  /** What a read of a row records: REST's action for the same data. */
  action: ChartAction;
  /** The column that names the row's patient. */
  patientIdColumn: string;
  /**
   * The columns REST answers without recording (a search result, enough to pick the right person),
   * so reading only these (and the node id, made of the key) records nothing here either. Every
   * other column, and any column added later, is recorded.
   */
  summaryColumns: readonly string[];
}

/**
 * The tables whose rows are chart data, as REST records their reads: a patient's record and its
 * history are `read_record` (GET …/patients/{id}, …/history), a file's metadata is `read_files`
 * (GraphQL serves no file's bytes, so never `download_file`); a patient's summary is what REST's
 * search answers unrecorded (patientSummary in src/modules/patients/schemas.ts, and the clinic, which
 * is the caller's). A new table of chart data adds its line.
 */
const CHART_TABLES: Readonly<Record<string, ChartTable>> = {
  'app_public.patients': {
    action: 'read_record',
    patientIdColumn: 'id',
    summaryColumns: ['clinic_id', 'id', 'patient_number', 'full_name', 'date_of_birth', 'sex', 'phone', 'status', 'merged_into_id'],
  },
  'app_public.patient_history': { action: 'read_record', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.files': { action: 'read_files', patientIdColumn: 'patient_id', summaryColumns: [] },
  // A consultation and what is written in it: read_record, as GET …/consultations/{id} records it.
  'app_public.consultations': { action: 'read_record', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.vitals': { action: 'read_record', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.diagnoses': { action: 'read_record', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.consultation_addenda': { action: 'read_record', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.follow_ups': { action: 'read_record', patientIdColumn: 'patient_id', summaryColumns: [] },
  // The lab's records, as REST records them (read_lab).
  'app_public.test_requests': { action: 'read_lab', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.test_reports': { action: 'read_lab', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.test_results': { action: 'read_lab', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.prescriptions': { action: 'read_record', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.prescription_items': { action: 'read_record', patientIdColumn: 'patient_id', summaryColumns: [] },
  'app_public.prescription_allergy_acknowledgements': { action: 'read_record', patientIdColumn: 'patient_id', summaryColumns: [] },
};

/** What the recording needs of the request, beside the pgSettings: put in the context before execution. */
interface ChartReader {
  /** The support access grant of a support token; null for a member. */
  supportGrantId: string | null;
  /** The reads recorded (or being recorded) in this request, by `action:patientId`. */
  recorded: Map<string, Promise<void>>;
}

/** The context's key for the ChartReader (not declared on Grafast.Context: the preset's context would no longer type-check). */
interface ChartReaderContext {
  chartReader?: ChartReader;
}

/** The request's settings (contextSettings()) and the adaptor's door to Postgres, as PgExecutor's context gives them. */
type PgDoor = PgExecutorContext<Record<string, string> | null>;

const INSERT_READS = `insert into app_public.patient_access_log (patient_id, action)
  select patient_id, $2::text from pg_catalog.unnest($1::uuid[]) as patient_id`;
const RECORD_SUPPORT_READS = `select pg_catalog.bool_and(app_hidden.record_support_chart_access($1::uuid, $2::uuid, $3::text, patient_id, null)) as recorded
  from pg_catalog.unnest($4::uuid[]) as patient_id`;

/** Records `patientIds` read as `action` in the chart access log, each once per request. */
async function recordReads(door: PgDoor, reader: ChartReader, action: ChartAction, patientIds: readonly string[]): Promise<void> {
  const keyOf = (id: string) => `${action}:${id}`;
  const unrecorded = [...new Set(patientIds)].filter((id) => !reader.recorded.has(keyOf(id)));
  if (unrecorded.length > 0) {
    const settings = door.pgSettings;
    if (!settings) throw new Error('a chart read cannot be recorded without the request’s settings');
    const recording =
      reader.supportGrantId === null
        ? recordMemberReads(door, settings, action, unrecorded)
        : recordSupportReads(door, settings, reader.supportGrantId, action, unrecorded);
    for (const id of unrecorded) reader.recorded.set(keyOf(id), recording);
  }
  await Promise.all(patientIds.map((id) => reader.recorded.get(keyOf(id))));
}

/**
 * A member's reads, inserted under the request's own settings: the column defaults name the
 * membership, address and request; the insert policy admits only the caller's own membership (a
 * patient: their own record). The ids are those of rows the caller's policies just showed.
 */
async function recordMemberReads(door: PgDoor, settings: Record<string, string>, action: ChartAction, patientIds: string[]): Promise<void> {
  await door.withPgClient(settings, (client) => client.query({ text: INSERT_READS, values: [patientIds, action] }));
}

/**
 * Reads under a support grant, whose transactions are read-only: recorded as the grant's operator
 * (app_platform, no clinic; the same caller, request and address), as REST's recordSupportRead,
 * by the function that checks the grant is theirs and in force. An ended grant records nothing.
 */
async function recordSupportReads(door: PgDoor, settings: Record<string, string>, grantId: string, action: ChartAction, patientIds: string[]): Promise<void> {
  const operator = { ...settings, role: 'app_platform', 'app.clinic_id': '', 'app.role': '', transaction_read_only: 'off' };
  const values = [grantId, settings['app.clinic_id'], action, patientIds];
  const { rows } = await door.withPgClient(operator, (client) => client.query<{ recorded: boolean }>({ text: RECORD_SUPPORT_READS, values }));
  if (rows[0]?.recorded !== true) throw new AppError('UNAUTHENTICATED', 'This support access has ended.');
}

/** The read of one batch of chart rows, recorded: resolves once the log has them, fails when it cannot. */
class ChartReadStep extends Step<null> {
  static override $$export = { moduleName: 'clinicbase', exportName: 'ChartReadStep' };
  override isSyncAndSafe = false;
  readonly action: ChartAction;

  constructor(action: ChartAction, $patientId: Step<string | null>, executor: PgExecutor) {
    super();
    this.action = action;
    this.addDependency($patientId);
    this.addUnaryDependency(executor.context());
    this.addUnaryDependency(access<ChartReader | undefined>(context(), 'chartReader'));
  }

  /** One step per row source and action: the row's fields share it. */
  override deduplicate(peers: readonly Step[]): readonly Step[] {
    return peers.filter((peer) => peer instanceof ChartReadStep && peer.action === this.action);
  }

  override async execute({
    count,
    values: [patientIds, door, reader],
  }: ExecutionDetails<[string | null, PgDoor, ChartReader | undefined]>): Promise<GrafastResultsList<null>> {
    const chartReader = reader!.at(0);
    if (!chartReader) throw new Error('GraphQL refuses to read charts without the chart access context');
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = patientIds!.at(i);
      if (id != null) ids.push(id);
    }
    if (ids.length > 0) await recordReads(door!.at(0), chartReader, this.action, ids);
    return new Array<null>(count).fill(null);
  }
}

/** A field's value, released once its row's read is recorded (an error, not the value, when recording failed). */
class RecordedValueStep<T> extends UnbatchedStep<T> {
  static override $$export = { moduleName: 'clinicbase', exportName: 'RecordedValueStep' };
  override isSyncAndSafe = true;

  constructor($read: ChartReadStep, $value: Step<T>) {
    super();
    this.addDependency($read);
    this.addDependency($value);
  }

  override unbatchedExecute(_extra: unknown, _read: null, value: T): T {
    return value;
  }
}

interface RowStep extends Step {
  get(attribute: string): Step<string | null>;
}

/** Whether a field of `table`'s type shows only its summary: a summary column, or the node id (its key). */
function isSummaryField(table: ChartTable, codec: PgCodec, scope: { fieldName: string; pgFieldAttribute?: unknown }, nodeIdFieldName: string): boolean {
  if (table.summaryColumns.length === 0) return false;
  if (scope.fieldName === nodeIdFieldName && scope.pgFieldAttribute === undefined) return true;
  const column = Object.entries(codec.attributes ?? {}).find(([, attribute]) => attribute === scope.pgFieldAttribute)?.[0];
  return column !== undefined && table.summaryColumns.includes(column);
}

/** The chart table a GraphQL object type shows (by its codec), with the executor that reads it. */
function chartTableOf(codec: PgCodec | undefined): (ChartTable & { executor: PgExecutor }) | null {
  const pg = codec?.extensions?.pg;
  const name = pg ? `${pg.schemaName}.${pg.name}` : '';
  const table = CHART_TABLES[name];
  if (!table) return null;
  // Fail closed: a chart table whose reads could not be recorded fails the schema's build.
  if (!codec?.executor) throw new Error(`${name} has no executor to record its reads with`);
  return { ...table, executor: codec.executor };
}

export const ChartAccessPlugin: GraphileConfig.Plugin = {
  ...wrapPlans(
    (context, build, field) => {
      const { scope } = context;
      if (!scope.isPgClassType || !isLeafType(getNamedType(field.type))) return null;
      const codec = scope.pgCodec as PgCodec;
      const table = chartTableOf(codec);
      if (!table || isSummaryField(table, codec, scope, build.inflection.nodeIdFieldName())) return null;
      return table;
    },
    ({ action, patientIdColumn, executor }) =>
      (plan, $row) => {
        const row = $row as RowStep;
        if (typeof row.get !== 'function') throw new Error(`a chart row without columns: its ${action} cannot be recorded`);
        return new RecordedValueStep(new ChartReadStep(action, row.get(patientIdColumn), executor), plan());
      },
    { name: 'ChartAccessPlugin', description: 'Records GraphQL reads of patient charts in the chart access log' },
  ),
  grafast: {
    middleware: {
      prepareArgs(next, { args }) {
        const request = (args.requestContext as { fastifyv5?: { request?: FastifyRequest } } | undefined)?.fastifyv5?.request;
        (args.contextValue as ChartReaderContext).chartReader = { supportGrantId: request?.claims?.support_grant ?? null, recorded: new Map() };
        return next();
      },
    },
  },
};
