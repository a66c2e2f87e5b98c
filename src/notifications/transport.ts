// The transport interface and the choice of transports the configuration makes.
import type { NotificationsConfig } from '../config.ts';
import { DeliveryError } from './errors.ts';
import { fileTransport } from './file-transport.ts';
import { type LineLog, logTransport } from './log-transport.ts';
import type { Channel, RenderedMessage } from './message.ts';
import { smtpTransport } from './smtp-transport.ts';
import { webhookTransport } from './webhook-transport.ts';

/**
 * Sends one rendered message; resolves once it is handed over, throws DeliveryError (with a reason)
 * otherwise. `signal` aborted: stop now (close the connection).
 */
export interface Transport {
  readonly name: string;
  send(message: RenderedMessage, signal?: AbortSignal): Promise<void>;
}

/**
 * One send within one overall deadline. A transport's own timeouts are per step (an SMTP server may
 * answer each just in time and take minutes in all): at the deadline the send is aborted (its
 * connection closed) and the attempt fails with a DeliveryError, whatever the transport does next.
 */
export async function sendWithin(transport: Transport, message: RenderedMessage, deadlineMs: number): Promise<void> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new DeliveryError(`${transport.name} timed out after ${deadlineMs} ms`));
    }, deadlineMs);
  });
  try {
    await Promise.race([transport.send(message, abort.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The transport of each channel. */
export type Transports = Record<Channel, Transport>;

/** Where a channel's messages go when nothing may carry them (SMTP alone cannot send an SMS). */
function unavailable(channel: Channel, hint: string): Transport {
  return {
    name: 'none',
    send: async () => {
      throw new DeliveryError(`no transport for ${channel}: ${hint}`);
    },
  };
}

/**
 * E-mail goes through NOTIFY_TRANSPORT; SMS through the SMS webhook when it is configured, else
 * through NOTIFY_TRANSPORT too unless that is SMTP. `log` is the line log development reads.
 */
export function createTransports(config: NotificationsConfig, log: LineLog): Transports {
  const main = mainTransport(config, log);
  const sms = config.smsWebhook
    ? webhookTransport(config.smsWebhook, config.timeoutMs)
    : config.transport === 'smtp'
      ? unavailable('sms', 'set SMS_WEBHOOK_URL and SMS_WEBHOOK_SECRET')
      : main;
  return { email: main, sms };
}

function mainTransport(config: NotificationsConfig, log: LineLog): Transport {
  switch (config.transport) {
    case 'log':
      return logTransport(log);
    case 'file':
      return fileTransport(config.fileDir, config.smtp?.from);
    case 'smtp':
      if (!config.smtp) throw new Error('NOTIFY_TRANSPORT=smtp without SMTP_URL and SMTP_FROM');
      return smtpTransport(config.smtp, config.timeoutMs);
    case 'webhook':
      if (!config.smsWebhook) throw new Error('NOTIFY_TRANSPORT=webhook without SMS_WEBHOOK_URL');
      return webhookTransport(config.smsWebhook, config.timeoutMs);
  }
}
