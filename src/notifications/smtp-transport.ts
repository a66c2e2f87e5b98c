// E-mail through an SMTP server (nodemailer). One connection per message, so there is nothing to
// close at shutdown; SMTP's own answer is the reason of a failure.
import nodemailer from 'nodemailer';
import { DeliveryError } from './errors.ts';
import { mailOptions } from './mail.ts';
import type { RenderedMessage } from './message.ts';
import type { Transport } from './transport.ts';

export function smtpTransport(smtp: { url: string; from: string }, timeoutMs: number): Transport {
  const transporter = nodemailer.createTransport({
    url: smtp.url,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  return {
    name: 'smtp',
    send: async (message: RenderedMessage) => {
      if (message.channel !== 'email') throw new DeliveryError('the SMTP transport sends e-mail only');
      try {
        await transporter.sendMail(mailOptions(message, smtp.from));
      } catch (error) {
        throw new DeliveryError(smtpReason(error), { cause: error });
      }
    },
  };
}

/** `SMTP 550: 5.1.1 mailbox unavailable`, or the connection's error code (ECONNREFUSED, ETIMEDOUT). */
function smtpReason(error: unknown): string {
  const { responseCode, response, code } = error as { responseCode?: number; response?: string; code?: string };
  if (responseCode) return `SMTP ${responseCode}: ${(response ?? '').split('\n')[0]?.slice(0, 200)}`;
  return `SMTP ${code ?? 'error'}: ${error instanceof Error ? error.message.slice(0, 200) : String(error)}`;
}
