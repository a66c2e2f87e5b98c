// Development's transport: each message is one JSON log line, whole (invitation and reset codes
// included, so a developer can follow them). Never for production: the log would hold the codes
// and whatever a message says (docs/security-model.md).
import type { RenderedMessage } from './message.ts';
import type { Transport } from './transport.ts';

/** The logger call the line takes (pino's, Fastify's app.log). */
export interface LineLog {
  info(details: object, message: string): void;
}

export function logTransport(log: LineLog): Transport {
  return {
    name: 'log',
    send: async (message: RenderedMessage) => {
      const { outboxId, channel, to, senderName, subject, text } = message;
      log.info({ notification: { outboxId, channel, to, from: senderName, subject, text } }, 'notification (log transport, development only)');
    },
  };
}
