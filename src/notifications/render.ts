// An outbox row made into a message: the kind's payload checked, its copy in the clinic's language,
// times in the clinic's time zone, then e-mail text and HTML or one SMS line.
import { z } from 'zod';
import { COPY, type Content, type Copy } from './copy.ts';
import { UndeliverableError } from './errors.ts';
import type { AppointmentFacts, OutboxMessage, RenderedMessage } from './message.ts';

/** The kinds whose message tells an appointment: the task reads it before rendering. */
export const APPOINTMENT_KINDS = ['appointment_confirmation', 'appointment_reminder'];

const invitation = z.object({
  token: z.string().min(1),
  clinic_name: z.string(),
  role: z.string(),
  sets_password: z.boolean(),
  expires_at: z.iso.datetime({ offset: true }),
});
const passwordReset = z.object({ token: z.string().min(1), expires_in: z.string() });
const labReport = z.object({ audience: z.enum(['doctor', 'patient']), critical: z.boolean().optional() });
const appointment = z.object({ appointmentId: z.uuid() });
const reminder = appointment.extend({ window: z.enum(['24h', '2h']) });

/** Every kind: its payload's schema and its copy. */
const KINDS: Record<string, (message: OutboxMessage, copy: Copy, appointment: AppointmentFacts | undefined) => Content> = {
  invitation: (message, copy) => {
    const p = parse(invitation, message);
    return copy.invitation({
      clinicName: p.clinic_name,
      role: p.role,
      token: p.token,
      setsPassword: p.sets_password,
      expiresAt: formatTime(new Date(p.expires_at), copy.locale, message.timezone),
    });
  },
  password_reset: (message, copy) => {
    const p = parse(passwordReset, message);
    return copy.passwordReset({ token: p.token, expiresIn: wholeMinutes(p.expires_in) ?? p.expires_in });
  },
  lab_report_released: (message, copy) => {
    const p = parse(labReport, message);
    return copy.labReportReleased({ clinicName: clinicNameOf(message), audience: p.audience, critical: p.critical ?? false });
  },
  appointment_confirmation: (message, copy, facts) => {
    parse(appointment, message);
    return copy.appointmentConfirmation(appointmentCopy(message, copy, facts));
  },
  appointment_reminder: (message, copy, facts) => {
    const p = parse(reminder, message);
    return copy.appointmentReminder({ ...appointmentCopy(message, copy, facts), window: p.window });
  },
};

/**
 * The message a transport sends. `appointment`: the appointment an appointment kind tells, read
 * by the task. Throws UndeliverableError when the row can never make a message.
 */
export function renderMessage(message: OutboxMessage, appointment?: AppointmentFacts): RenderedMessage {
  const kind = KINDS[message.kind];
  if (!kind) throw new UndeliverableError(`no template for kind ${message.kind}`);
  const content = kind(message, COPY[message.language], appointment);
  const senderName = message.senderName ?? message.clinicName;
  if (message.channel === 'sms') {
    return {
      outboxId: message.id,
      channel: 'sms',
      to: message.recipient,
      senderName,
      subject: content.subject,
      text: smsText(senderName, content.sms),
      html: undefined,
    };
  }
  return {
    outboxId: message.id,
    channel: 'email',
    to: message.recipient,
    senderName,
    subject: content.subject,
    text: `${content.paragraphs.join('\n\n')}\n${signature(senderName)}`,
    html: html(COPY[message.language].locale, content, senderName),
  };
}

/** A date and time as people of the clinic read it: their language, their time zone, 24-hour clock. */
export function formatTime(at: Date, locale: string, timeZone: string): string {
  return new Intl.DateTimeFormat(locale, { timeZone, dateStyle: 'full', timeStyle: 'short', hourCycle: 'h23' }).format(at);
}

function parse<T>(schema: z.ZodType<T>, message: OutboxMessage): T {
  const parsed = schema.safeParse(message.payload);
  if (!parsed.success) throw new UndeliverableError(`payload of ${message.kind} is invalid: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
  return parsed.data;
}

function clinicNameOf(message: OutboxMessage): string {
  if (message.clinicName === null) throw new UndeliverableError(`${message.kind} has no clinic`);
  return message.clinicName;
}

function appointmentCopy(message: OutboxMessage, copy: Copy, facts: AppointmentFacts | undefined) {
  if (!facts) throw new UndeliverableError('appointment not found');
  // Cancelled, completed, a no-show: a patient is never told of a slot they no longer hold.
  if (facts.status !== 'booked') throw new UndeliverableError(`appointment is ${facts.status}`);
  return { clinicName: clinicNameOf(message), doctorName: facts.doctorName, when: formatTime(facts.startsAt, copy.locale, message.timezone) };
}

/** `00:30:00` (how Postgres writes a 30-minute interval) is 30; anything else is shown as written. */
function wholeMinutes(interval: string): number | undefined {
  const match = /^(\d+):(\d{2}):00$/.exec(interval);
  return match ? Number(match[1]) * 60 + Number(match[2]) : undefined;
}

function smsText(senderName: string | null, line: string): string {
  return senderName ? `${senderName}: ${line}` : line;
}

function signature(senderName: string | null): string {
  return senderName ? `\n${senderName}\n` : '';
}

function html(locale: string, content: Content, senderName: string | null): string {
  const paragraphs = [...content.paragraphs, ...(senderName ? [senderName] : [])].map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
  return `<!doctype html>\n<html lang="${locale}"><head><meta charset="utf-8"><title>${escapeHtml(content.subject)}</title></head>\n<body>\n${paragraphs}\n</body></html>\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
