// Every change to a tenant table is recorded with actor, clinic, row key, changed columns,
// before/after and request id.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { withTenant } from '../../src/db/tenant.ts';
import { createClinics, createTestDatabase } from '../helpers/db.ts';

t.test('inserts, updates and deletes are audited', async (t) => {
  const db = await createTestDatabase(t);
  const clinics = await createClinics(db);
  const userId = randomUUID();
  const ctx = (requestId: string) => ({ clinicId: clinics.a, userId, role: 'clinic_admin' as const, requestId });

  const { id } = await withTenant(db.pool, ctx('req-1'), (trx) =>
    trx.insertInto('appPublic.departments').values({ code: 'CARD', name: 'Cardiology' }).returning('id').executeTakeFirstOrThrow(),
  );
  await withTenant(db.pool, ctx('req-2'), (trx) =>
    trx.updateTable('appPublic.departments').set({ name: 'Cardiology & Vascular' }).where('id', '=', id).execute(),
  );
  await withTenant(db.pool, ctx('req-3'), (trx) =>
    trx.updateTable('appPublic.departments').set({ name: 'Cardiology & Vascular' }).where('id', '=', id).execute(),
  );
  await withTenant(db.pool, ctx('req-4'), (trx) => trx.deleteFrom('appPublic.departments').where('id', '=', id).execute());

  const { rows } = await db.admin.query(
    `select clinic_id, actor_user_id, actor_role, request_id, table_name, row_key, action, changed_columns, before, after
     from app_audit.audit_log where table_name = 'app_public.departments' order by id`,
  );
  t.equal(rows.length, 4, 'one row per change (a no-op update changes updated_at only)');
  t.match(rows[0], {
    clinic_id: clinics.a,
    actor_user_id: userId,
    actor_role: 'clinic_admin',
    request_id: 'req-1',
    row_key: { id },
    action: 'INSERT',
    before: null,
    after: { code: 'CARD', name: 'Cardiology' },
  });
  t.match(rows[1], {
    action: 'UPDATE',
    request_id: 'req-2',
    changed_columns: ['name', 'updated_at'],
    before: { name: 'Cardiology' },
    after: { name: 'Cardiology & Vascular' },
  });
  t.notOk('code' in rows[1].after, 'unchanged columns are not repeated');
  t.match(rows[2], { action: 'UPDATE', request_id: 'req-3', changed_columns: ['updated_at'] });
  t.match(rows[3], { action: 'DELETE', request_id: 'req-4', before: { code: 'CARD' }, after: null });

  const clinicRows = await db.admin.query(`select clinic_id, action from app_audit.audit_log where table_name = 'app_public.clinics'`);
  t.same(clinicRows.rows.map((r) => r.clinic_id).sort(), [clinics.a, clinics.b].sort(), 'clinic rows are audited under their own id');
});
