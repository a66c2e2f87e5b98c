// The e-mail both the SMTP and the file transport make of a rendered message.
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { RenderedMessage } from './message.ts';

/** Used when a clinic has no sender name (account mails of no clinic). */
export const DEFAULT_SENDER_NAME = 'Clinicbase';

export function mailOptions(message: RenderedMessage, fromAddress: string): Mail.Options {
  return {
    from: { name: message.senderName ?? DEFAULT_SENDER_NAME, address: fromAddress },
    to: message.to,
    subject: message.subject,
    text: message.text,
    html: message.html,
    // One outbox row, one Message-ID: a copy sent again after a crash is recognisably the same mail.
    messageId: `<notification-${message.outboxId}@${fromAddress.split('@')[1]}>`,
  };
}
