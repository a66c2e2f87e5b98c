// What delivery works with: one outbox row as the worker reads it, and the message made of it.

export type Channel = 'email' | 'sms';

/** The languages with templates; a clinic's `language` setting is one of them. */
export const LANGUAGES = ['en', 'es'] as const;
export type Language = (typeof LANGUAGES)[number];

/**
 * One row of `app_private.notification_outbox` with what its templates need, as
 * `app_hidden.notification_claim` answers it (the clinic's name, sender name, language and time
 * zone; account mails of no clinic get English and UTC).
 */
export interface OutboxMessage {
  id: number;
  kind: string;
  channel: Channel;
  recipient: string;
  /** Ids and tokens only, never health data: the rest is read when the message is rendered. */
  payload: Record<string, unknown>;
  clinicId: string | null;
  /** 'sending' while a delivery holds it (this one when `claimed`). */
  status: 'pending' | 'sending' | 'sent' | 'failed';
  clinicName: string | null;
  senderName: string | null;
  language: Language;
  timezone: string;
  /** The message's clinic is suspended: it waits for the reactivation. */
  clinicSuspended: boolean;
  /** This delivery holds the row (status 'sending') until `sendingUntil`; false: not ours to send now. */
  claimed: boolean;
  sendingUntil: Date | null;
}

/** An appointment as a confirmation or a reminder tells it (`app_hidden.notification_appointment`). */
export interface AppointmentFacts {
  startsAt: Date;
  doctorName: string;
  status: string;
}

/** A message ready for a transport: addressed, in the clinic's language, with the sender's name. */
export interface RenderedMessage {
  /** The outbox row's id: the SMTP Message-ID and the webhook's Idempotency-Key are made of it. */
  outboxId: number;
  channel: Channel;
  to: string;
  /** The clinic's sender name (or its name); null for account mails of no clinic. */
  senderName: string | null;
  subject: string;
  text: string;
  /** E-mail only: the same text as simple HTML. */
  html: string | undefined;
}
