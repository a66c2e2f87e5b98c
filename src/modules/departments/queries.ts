// One query each, the transaction first, no clinic filter: RLS scopes every statement.
import type { TenantDb } from '../../db/tenant.ts';
import type { Department, DepartmentInput } from './schemas.ts';

const columns = [
  'id', 'code', 'name', 'description', 'is_active as isActive', 'created_at as createdAt', 'updated_at as updatedAt',
] as const;

export function listDepartments(db: TenantDb, limit: number, after?: [string, string]): Promise<Department[]> {
  let query = db.selectFrom('app_public.departments').select(columns).orderBy('code').orderBy('id').limit(limit);
  if (after) query = query.where((eb) => eb(eb.refTuple('code', 'id'), '>', eb.tuple(after[0], after[1])));
  return query.execute();
}

export function findDepartment(db: TenantDb, id: string): Promise<Department | undefined> {
  return db.selectFrom('app_public.departments').select(columns).where('id', '=', id).executeTakeFirst();
}

export function insertDepartment(db: TenantDb, input: DepartmentInput): Promise<Department> {
  return db
    .insertInto('app_public.departments')
    .values({ code: input.code, name: input.name, description: input.description ?? null, is_active: input.isActive ?? true })
    .returning(columns)
    .executeTakeFirstOrThrow();
}
