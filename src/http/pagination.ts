// Keyset pagination for every list: a bounded `limit` and an opaque `after` cursor holding the
// sort key of the last item of the previous page.
import { z } from 'zod';
import { hasControlCharacters } from './text.ts';

export function pageQuery<K extends z.ZodTuple>(key: K) {
  const cursor = z
    .string()
    .max(400)
    .transform((value, ctx) => {
      try {
        const decoded = key.parse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8'))) as z.infer<K>;
        // A cursor is decoded client input: its text goes into SQL like any field's.
        if (decoded.some((part: unknown) => typeof part === 'string' && hasControlCharacters(part))) throw new Error('control characters');
        return decoded;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not a cursor this API issued' });
        return z.NEVER;
      }
    });
  return z.object({ limit: z.coerce.number().int().min(1).max(100).default(20), after: cursor.optional() }).strict();
}

export function encodeCursor(key: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** Cuts the one extra row a query fetched into a page and the cursor of the next one. */
export function toPage<T>(rows: T[], limit: number, keyOf: (row: T) => readonly unknown[]): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });
