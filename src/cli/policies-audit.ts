// `npm run policies:audit`: prints app_audit.rls_report and exits 1 when any object breaks an
// isolation rule (rules: docs/security-model.md).
import { loadConfig } from '../config.ts';
import { readAudit, formatAudit } from '../db/audit.ts';
import { withClient } from '../db/setup.ts';
import { runCli, withInspectedDatabase } from './database.ts';

runCli(async () => {
  const config = loadConfig();
  const rows = await withInspectedDatabase(config, console.error, (url) => withClient(url, readAudit));
  console.log(formatAudit(rows));
  return rows.every((row) => row.ok) ? 0 : 1;
});
