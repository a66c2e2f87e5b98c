// Messages as files, one per outbox row: `<id>.eml` (the whole e-mail, as SMTP would carry it) or
// `<id>.json` (an SMS). Sending again overwrites the same file. For development and for staging
// systems whose mail a person inspects; the folder holds codes, so it is private to the user.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { DeliveryError } from './errors.ts';
import { mailOptions } from './mail.ts';
import type { RenderedMessage } from './message.ts';
import type { Transport } from './transport.ts';

/** The From address when SMTP_FROM is unset (`.invalid` is never a real domain). */
const FILE_FROM = 'notifications@clinicbase.invalid';

export function fileTransport(dir: string, fromAddress = FILE_FROM): Transport {
  const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    name: 'file',
    send: async (message: RenderedMessage) => {
      const [name, content] =
        message.channel === 'email'
          ? [`${message.outboxId}.eml`, (await builder.sendMail(mailOptions(message, fromAddress))).message as Buffer]
          : [`${message.outboxId}.json`, `${JSON.stringify({ to: message.to, from: message.senderName, text: message.text })}\n`];
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        // Written aside then renamed: a reader never sees half a message.
        const partial = path.join(dir, `.${name}.partial`);
        await writeFile(partial, content, { mode: 0o600 });
        await rename(partial, path.join(dir, name));
      } catch (error) {
        throw new DeliveryError(`file ${(error as NodeJS.ErrnoException).code ?? 'error'} in ${dir}`, { cause: error });
      }
    },
  };
}
