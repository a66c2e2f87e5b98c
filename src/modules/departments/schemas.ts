import { z } from 'zod';

export const clinicParams = z.object({ slug: z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/) }).strict();

export const departmentParams = clinicParams.extend({ id: z.uuid() }).strict();

export const departmentInput = z
  .object({
    code: z.string().regex(/^[A-Z0-9][A-Z0-9_-]{0,15}$/, 'must be 1–16 upper-case letters, digits, - or _'),
    name: z.string().trim().min(1).max(120),
    description: z.string().max(2000).nullable().optional(),
    isActive: z.boolean().optional(),
  })
  .strict();

/** Opaque keyset cursor: the (code, id) of the last item of the previous page. */
const cursor = z
  .string()
  .max(200)
  .transform((value, ctx) => {
    try {
      return z.tuple([z.string(), z.uuid()]).parse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not a cursor this API issued' });
      return z.NEVER;
    }
  });

export const listQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    after: cursor.optional(),
  })
  .strict();

export function encodeCursor(code: string, id: string): string {
  return Buffer.from(JSON.stringify([code, id])).toString('base64url');
}

export const department = z.object({
  id: z.uuid(),
  code: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  isActive: z.boolean(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const departmentPage = z.object({ items: z.array(department), nextCursor: z.string().nullable() });

export type DepartmentInput = z.infer<typeof departmentInput>;
export type Department = z.infer<typeof department>;
