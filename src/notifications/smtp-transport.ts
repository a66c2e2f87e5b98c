// E-mail through an SMTP server (nodemailer). One connection per message, so there is nothing to
// close at shutdown; SMTP's own answer is the reason of a failure. smtp:// to another host than
// this one must upgrade with STARTTLS (requireTLS): a server that does not offer it gets nothing,
// rather than tokens in clear text. smtps:// is TLS from the start.
import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { DeliveryError } from './errors.ts';
import { mailOptions } from './mail.ts';
import type { RenderedMessage } from './message.ts';
import type { Transport } from './transport.ts';

export function smtpTransport(smtp: { url: string; from: string }, timeoutMs: number): Transport {
  const transporter = nodemailer.createTransport({
    url: smtp.url,
    requireTLS: requiresStartTls(smtp.url),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  return {
    name: 'smtp',
    send: async (message: RenderedMessage, signal?: AbortSignal) => {
      if (message.channel !== 'email') throw new DeliveryError('the SMTP transport sends e-mail only');
      // nodemailer closes the message's connection when the signal aborts (its types lack the option).
      const options: Mail.Options & { signal?: AbortSignal } = { ...mailOptions(message, smtp.from), signal };
      try {
        await transporter.sendMail(options);
      } catch (error) {
        throw new DeliveryError(smtpReason(error), { cause: error });
      }
    },
  };
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** smtp:// leaves this host: STARTTLS or nothing. (A relay on this host may speak plain SMTP.) */
export function requiresStartTls(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return protocol === 'smtp:' && !LOOPBACK_NAMES.has(hostname.toLowerCase());
}

/** `SMTP 550: 5.1.1 mailbox unavailable`, or the connection's error code (ECONNREFUSED, ETIMEDOUT). */
function smtpReason(error: unknown): string {
  const { responseCode, response, code } = error as { responseCode?: number; response?: string; code?: string };
  if (responseCode) return `SMTP ${responseCode}: ${(response ?? '').split('\n')[0]?.slice(0, 200)}`;
  return `SMTP ${code ?? 'error'}: ${error instanceof Error ? error.message.slice(0, 200) : String(error)}`;
}
