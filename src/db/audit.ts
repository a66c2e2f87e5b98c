// Reads app_audit.rls_report (the policy audit view defined in migrations) and formats it.
import type pg from 'pg';

export interface AuditRow {
  object_type: string;
  object_name: string;
  detail: string | null;
  problems: string[];
  ok: boolean;
}

export async function readAudit(client: pg.Client | pg.Pool): Promise<AuditRow[]> {
  const { rows } = await client.query<AuditRow>(
    'select object_type, object_name, detail, problems, ok from app_audit.rls_report order by ok, object_type, object_name',
  );
  return rows;
}

/** A plain-text table, problems first, one line per problem. */
export function formatAudit(rows: AuditRow[]): string {
  const lines = rows.flatMap((row) => {
    const status = row.ok ? 'ok' : 'FAIL';
    const head = [status, row.object_type, row.object_name, row.detail ?? ''];
    return row.ok ? [head] : row.problems.map((problem, i) => (i === 0 ? [...head.slice(0, 3), problem] : ['', '', '', problem]));
  });
  const header = ['status', 'type', 'object', 'detail / problem'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const failing = rows.filter((r) => !r.ok).length;
  return [
    render(header),
    render(widths.map((w) => '-'.repeat(w))),
    ...lines.map(render),
    '',
    failing === 0 ? `${rows.length} objects, no problems` : `${failing} of ${rows.length} objects break isolation rules`,
  ].join('\n');
}
