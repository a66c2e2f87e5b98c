import { z } from 'zod';
import { page, pageQuery } from '../../http/pagination.ts';
import { clinicParams } from '../../http/params.ts';
import { multilineText, plainText } from '../../http/text.ts';

export const departmentParams = clinicParams.extend({ id: z.uuid() }).strict();

export const departmentInput = z
  .object({
    code: plainText.regex(/^[A-Z0-9][A-Z0-9_-]{0,15}$/, 'must be 1–16 upper-case letters, digits, - or _'),
    name: plainText.trim().min(1).max(120),
    description: multilineText.max(2000).nullable().optional(),
    isActive: z.boolean().optional(),
  })
  .strict();

export const listQuery = pageQuery(z.tuple([plainText, z.uuid()]));

export const department = z.object({
  id: z.uuid(),
  code: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  isActive: z.boolean(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const departmentPage = page(department);

export type DepartmentInput = z.infer<typeof departmentInput>;
export type Department = z.infer<typeof department>;
