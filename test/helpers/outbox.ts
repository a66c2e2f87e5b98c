// Invitation tokens reach people through the notification outbox only (never an API response):
// tests read them there as superuser, as the notification jobs will.
import type { TestDatabase } from './db.ts';

/** The token of the newest invitation sent to this e-mail (case-insensitive). */
export async function latestInvitationToken(db: TestDatabase, email: string): Promise<string> {
  const { rows } = await db.admin.query<{ token: string }>(
    `select payload->>'token' as token from app_private.notification_outbox
     where kind = 'invitation' and lower(recipient) = lower($1) order by id desc limit 1`,
    [email],
  );
  if (!rows[0]) throw new Error(`no invitation for ${email} in the outbox`);
  return rows[0].token;
}
