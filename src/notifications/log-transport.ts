// Development's transport: each message is one JSON log line, whole (invitation and reset codes
// included, so a developer can follow them). Never for production: the log would hold the codes
// and whatever a message says (docs/security-model.md).
import type { RenderedMessage } from './message.ts';
import type { Transport } from './transport.ts';

/** The worker's log (WorkerDeps.log): a message and its fields, one JSON line. */
export type LineLog = (message: string, fields?: Record<string, unknown>) => void;

export function logTransport(log: LineLog): Transport {
  return {
    name: 'log',
    send: async (message: RenderedMessage) => {
      const { outboxId, channel, to, senderName, subject, text } = message;
      log('notification (log transport, development only)', { notification: { outboxId, channel, to, from: senderName, subject, text } });
    },
  };
}
