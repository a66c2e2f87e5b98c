// `npm run docs:permissions`: rewrites the generated tables of docs/permissions.md from
// PERMISSIONS (src/auth/permissions.ts), keeping the hand-written notes around them.
import { readFile, writeFile } from 'node:fs/promises';
import { PERMISSIONS_DOC, renderPermissionsDoc } from '../auth/permissions-doc.ts';

try {
  const before = await readFile(PERMISSIONS_DOC, 'utf8');
  const after = renderPermissionsDoc(before);
  if (after === before) {
    console.log('docs/permissions.md is current');
  } else {
    await writeFile(PERMISSIONS_DOC, after);
    console.log('docs/permissions.md rewritten from PERMISSIONS: add notes to any new section');
  }
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
}
