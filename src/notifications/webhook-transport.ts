// SMS through a gateway's HTTP webhook: one JSON POST per message, signed, with the outbox id as
// Idempotency-Key so a gateway can drop the copy a retry after a crash sends.
//
// Signature: `X-Clinicbase-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with
// SMS_WEBHOOK_SECRET>`, the timestamp (Unix seconds) in `X-Clinicbase-Timestamp`, so a receiver
// can refuse old or replayed calls (docs/operations.md, "Notification delivery").
import { createHmac } from 'node:crypto';
import { DeliveryError } from './errors.ts';
import type { RenderedMessage } from './message.ts';
import type { Transport } from './transport.ts';

export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function webhookTransport(webhook: { url: string; secret: string }, timeoutMs: number, now: () => Date = () => new Date()): Transport {
  return {
    name: 'webhook',
    send: async (message: RenderedMessage, signal?: AbortSignal) => {
      const body = JSON.stringify({
        id: String(message.outboxId),
        channel: message.channel,
        to: message.to,
        from: message.senderName,
        subject: message.channel === 'email' ? message.subject : undefined,
        text: message.text,
      });
      const timestamp = String(Math.floor(now().getTime() / 1000));
      let response: Response;
      try {
        response = await fetch(webhook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'idempotency-key': String(message.outboxId),
            'x-clinicbase-timestamp': timestamp,
            'x-clinicbase-signature': webhookSignature(webhook.secret, timestamp, body),
          },
          body,
          redirect: 'error',
          signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new DeliveryError(fetchReason(error, timeoutMs), { cause: error });
      }
      // The answer's body is the gateway's; only its status is kept.
      await response.body?.cancel();
      if (!response.ok) throw new DeliveryError(`webhook answered ${response.status}`);
    },
  };
}

function fetchReason(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return `webhook timed out after ${timeoutMs} ms`;
  // fetch's own error says only "fetch failed": the cause's code names the connection's problem.
  // Never a message: fetch's may quote the URL, and a URL may hold a secret.
  const code = (error as { cause?: { code?: unknown } }).cause?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return `webhook unreachable: ${code}`;
  return `webhook unreachable: ${error instanceof Error && /^\w{1,40}$/.test(error.name) ? error.name : 'error'}`;
}
