// One query each, the transaction first, no clinic filter: RLS scopes every statement.
import type { TenantDb } from '../../db/tenant.ts';
import type { Department, DepartmentInput } from './schemas.ts';

const columns = ['id', 'code', 'name', 'description', 'isActive', 'createdAt', 'updatedAt'] as const;

export function listDepartments(db: TenantDb, limit: number, after?: [string, string]): Promise<Department[]> {
  let query = db.selectFrom('appPublic.departments').select(columns).orderBy('code').orderBy('id').limit(limit);
  if (after) query = query.where((eb) => eb(eb.refTuple('code', 'id'), '>', eb.tuple(after[0], after[1])));
  return query.execute();
}

export function findDepartment(db: TenantDb, id: string): Promise<Department | undefined> {
  return db.selectFrom('appPublic.departments').select(columns).where('id', '=', id).executeTakeFirst();
}

export function insertDepartment(db: TenantDb, input: DepartmentInput): Promise<Department> {
  return db
    .insertInto('appPublic.departments')
    .values({ code: input.code, name: input.name, description: input.description ?? null, isActive: input.isActive ?? true })
    .returning(columns)
    .executeTakeFirstOrThrow();
}
