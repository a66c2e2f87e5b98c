// The notification transports and templates without a database: SMTP against a real SMTP server
// (smtp-server, on a free loopback port), the SMS webhook against a local HTTP server whose check
// of the signature is node:crypto's own, the file and log transports, the templates in both
// languages, and the configuration of delivery.
import { createHmac } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { UndeliverableError } from '../../src/notifications/errors.ts';
import { fileTransport } from '../../src/notifications/file-transport.ts';
import { logTransport } from '../../src/notifications/log-transport.ts';
import type { OutboxMessage } from '../../src/notifications/message.ts';
import { renderMessage } from '../../src/notifications/render.ts';
import { requiresStartTls, smtpTransport } from '../../src/notifications/smtp-transport.ts';
import { createTransports, sendWithin, type Transport } from '../../src/notifications/transport.ts';
import { webhookTransport } from '../../src/notifications/webhook-transport.ts';
import { decodeQuotedPrintable, header, startSmtpServer, startWebhook } from '../helpers/notify-servers.ts';

const TOKEN = 'inv_9QkT2vX7pL4mN8rS1wY6zA3bC5dE0fG';
const SECRET = 'a-webhook-secret-of-32-characters-or-more';

const invitation: OutboxMessage = {
  id: 41,
  kind: 'invitation',
  channel: 'email',
  recipient: 'nora@example.test',
  payload: {
    token: TOKEN,
    clinic_slug: 'north',
    clinic_name: 'North Clinic',
    role: 'doctor',
    sets_password: true,
    expires_at: '2027-03-15T14:30:00.123456+00:00',
  },
  clinicId: '00000000-0000-4000-8000-000000000001',
  status: 'pending',
  clinicName: 'North Clinic',
  senderName: 'Dr Smith Practice',
  language: 'en',
  timezone: 'America/New_York',
  clinicSuspended: false,
  claimed: true,
  sendingUntil: null,
};

const reminder: OutboxMessage = {
  ...invitation,
  id: 42,
  kind: 'appointment_reminder',
  channel: 'sms',
  recipient: '+15550100',
  payload: { appointmentId: '00000000-0000-4000-8000-0000000000aa', clinicId: invitation.clinicId, window: '24h' },
};
// 15:00 UTC on 8 March 2027 is 10:00 in New York (EST, the day before daylight saving starts).
const appointment = { startsAt: new Date('2027-03-08T15:00:00Z'), doctorName: 'Dr Ana Ruiz', status: 'booked' };

t.test('SMTP: the invitation reaches a real SMTP server from the clinic sender name, with its code', async (t) => {
  const smtp = await startSmtpServer(t);
  const message = renderMessage(invitation);
  await smtpTransport({ url: smtp.url, from: 'notifications@clinicbase.test' }, 5000).send(message);
  t.equal(smtp.received.length, 1);
  const [mail] = smtp.received;
  t.equal(mail!.from, 'notifications@clinicbase.test', 'envelope sender');
  t.same(mail!.to, ['nora@example.test'], 'envelope recipient');
  t.equal(header(mail!.raw, 'From'), 'Dr Smith Practice <notifications@clinicbase.test>');
  t.equal(header(mail!.raw, 'To'), 'nora@example.test');
  t.equal(header(mail!.raw, 'Subject'), 'Your invitation to North Clinic');
  t.equal(header(mail!.raw, 'Message-ID'), '<notification-41@clinicbase.test>');
  const body = decodeQuotedPrintable(mail!.raw);
  t.ok(body.includes(`To accept, choose a password with this invitation code: ${TOKEN}`), 'the text carries the code');
  t.ok(body.includes('The invitation expires on Monday, March 15, 2027 at 10:30.'), 'the expiry in the clinic time zone (EDT)');
  t.ok(body.includes('<p>You have been invited to join North Clinic as doctor.</p>'), 'an HTML part');
});

t.test('SMTP: a refused recipient is a DeliveryError with the server answer as its reason', async (t) => {
  const smtp = await startSmtpServer(t, { refuseRecipient: true });
  const error = await smtpTransport({ url: smtp.url, from: 'notifications@clinicbase.test' }, 5000)
    .send(renderMessage(invitation))
    .catch((e: unknown) => e);
  t.match(error, { name: 'DeliveryError', reason: /^SMTP 550: .*mailbox unavailable/ });
  t.equal(smtp.received.length, 0);
});

t.test('SMTP: no server listening is a DeliveryError naming the connection error', async (t) => {
  const smtp = await startSmtpServer(t);
  const closedPort = `${smtp.url.slice(0, smtp.url.lastIndexOf(':'))}:1`;
  const error = await smtpTransport({ url: closedPort, from: 'notifications@clinicbase.test' }, 5000)
    .send(renderMessage(invitation))
    .catch((e: unknown) => e);
  t.match(error, { name: 'DeliveryError', reason: 'SMTP ESOCKET: connect ECONNREFUSED 127.0.0.1:1' });
});

t.test('SMTP: smtp:// beyond this host requires STARTTLS; a server without it gets nothing', async (t) => {
  t.same(
    [
      'smtp://mail.example.test:587',
      'smtp://u:p@10.0.0.5',
      'smtp://127.0.0.2:25',
      'smtp://localhost:25',
      'smtp://127.0.0.1:1025',
      'smtp://[::1]:25',
      'smtps://mail.example.test',
    ].map(requiresStartTls),
    [true, true, true, false, false, false, false],
  );
  // smtp-server without STARTTLS on 127.0.0.2: loopback, but not named as this host.
  const remote = await startSmtpServer(t, { host: '127.0.0.2' });
  const error = await smtpTransport({ url: remote.url, from: 'notifications@clinicbase.test' }, 5000)
    .send(renderMessage(invitation))
    .catch((e: unknown) => e);
  // The server refuses the STARTTLS it does not offer; the client stops there.
  t.match(error, { name: 'DeliveryError', reason: 'SMTP 500: 500 Error: command not recognized' });
  t.equal(remote.received.length, 0, 'nothing sent in clear text');
});

t.test('one overall deadline: a send past it fails as a DeliveryError and is told to stop', async (t) => {
  let aborted = false;
  const slow: Transport = {
    name: 'slow',
    send: (_message, signal) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        signal?.addEventListener('abort', () => {
          aborted = true;
          clearTimeout(timer);
        });
      }),
  };
  const started = Date.now();
  await t.rejects(sendWithin(slow, renderMessage(invitation), 200), { name: 'DeliveryError', reason: 'slow timed out after 200 ms' });
  t.ok(Date.now() - started < 1000, 'at the deadline');
  t.ok(aborted, 'the transport is aborted');
});

t.test('webhook: one signed JSON POST per SMS, the outbox id as Idempotency-Key', async (t) => {
  const hook = await startWebhook(t, () => 202);
  const now = () => new Date('2027-03-07T12:00:00Z');
  await webhookTransport({ url: hook.url, secret: SECRET }, 5000, now).send(renderMessage(reminder, appointment));
  t.equal(hook.calls.length, 1);
  const [call] = hook.calls;
  t.equal(call!.headers['content-type'], 'application/json');
  t.equal(call!.headers['idempotency-key'], '42');
  t.equal(call!.headers['x-clinicbase-timestamp'], '1804420800');
  const expected = `sha256=${createHmac('sha256', SECRET).update(`1804420800.${call!.body}`).digest('hex')}`;
  t.equal(call!.headers['x-clinicbase-signature'], expected, 'the signature checks with node:crypto and the shared secret');
  t.same(JSON.parse(call!.body), {
    id: '42',
    channel: 'sms',
    to: '+15550100',
    from: 'Dr Smith Practice',
    text: 'Dr Smith Practice: Reminder: appointment with Dr Ana Ruiz on Monday, March 8, 2027 at 10:00.',
  });
});

t.test('webhook: an error status and a gateway that never answers are DeliveryErrors', async (t) => {
  const failing = await startWebhook(t, () => 503);
  const refused = await webhookTransport({ url: failing.url, secret: SECRET }, 5000)
    .send(renderMessage(reminder, appointment))
    .catch((e: unknown) => e);
  t.match(refused, { name: 'DeliveryError', reason: 'webhook answered 503' });
  const hanging = await startWebhook(t, () => 'hang');
  const timedOut = await webhookTransport({ url: hanging.url, secret: SECRET }, 200)
    .send(renderMessage(reminder, appointment))
    .catch((e: unknown) => e);
  t.match(timedOut, { name: 'DeliveryError', reason: 'webhook timed out after 200 ms' });
});

t.test('webhook: no gateway listening is a DeliveryError naming the connection error', async (t) => {
  // A port that was just free: nothing listens there (fetch refuses well-known ports such as 1 outright).
  const closed = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
  const error = await webhookTransport({ url: `http://127.0.0.1:${closed}/sms`, secret: SECRET }, 5000)
    .send(renderMessage(reminder, appointment))
    .catch((e: unknown) => e);
  t.match(error, { name: 'DeliveryError', reason: 'webhook unreachable: ECONNREFUSED' });
});

t.test('webhook: an error of fetch is reasoned by its code or class, never its message (a URL may hold a secret)', async (t) => {
  const error = await webhookTransport({ url: 'https://user:hunter2@sms.example.test/hook', secret: SECRET }, 5000)
    .send(renderMessage(reminder, appointment))
    .catch((e: unknown) => e);
  t.match(error, { name: 'DeliveryError', reason: 'webhook unreachable: TypeError' });
  t.notMatch(JSON.stringify({ reason: (error as { reason: string }).reason }), /hunter2/);
});

t.test('file: a folder that cannot be written is a DeliveryError', async (t) => {
  const blocked = path.join(t.testdir({ 'not-a-folder': 'a file' }), 'not-a-folder');
  const error = await fileTransport(blocked)
    .send(renderMessage(invitation))
    .catch((e: unknown) => e);
  t.match(error, { name: 'DeliveryError', reason: `file EEXIST in ${blocked}` });
});

t.test('file: one .eml per e-mail and one .json per SMS, private to the user, rewritten on a resend', async (t) => {
  const dir = path.join(t.testdir(), 'outbox');
  const transport = fileTransport(dir);
  await transport.send(renderMessage(invitation));
  await transport.send(renderMessage(invitation));
  await transport.send(renderMessage(reminder, appointment));
  t.same((await readdir(dir)).sort(), ['41.eml', '42.json']);
  t.equal((await stat(path.join(dir, '41.eml'))).mode & 0o777, 0o600);
  const eml = await readFile(path.join(dir, '41.eml'), 'utf8');
  t.equal(header(eml, 'From'), 'Dr Smith Practice <notifications@clinicbase.invalid>');
  t.equal(header(eml, 'Subject'), 'Your invitation to North Clinic');
  t.ok(decodeQuotedPrintable(eml).includes(TOKEN));
  t.same(JSON.parse(await readFile(path.join(dir, '42.json'), 'utf8')), {
    to: '+15550100',
    from: 'Dr Smith Practice',
    text: 'Dr Smith Practice: Reminder: appointment with Dr Ana Ruiz on Monday, March 8, 2027 at 10:00.',
  });
});

t.test('log: one line with the whole message (development only)', async (t) => {
  const lines: { details: object | undefined; message: string }[] = [];
  await logTransport((message, details) => lines.push({ details, message })).send(renderMessage(reminder, appointment));
  t.same(lines, [
    {
      details: {
        notification: {
          outboxId: 42,
          channel: 'sms',
          to: '+15550100',
          from: 'Dr Smith Practice',
          subject: 'Reminder: your appointment at North Clinic',
          text: 'Dr Smith Practice: Reminder: appointment with Dr Ana Ruiz on Monday, March 8, 2027 at 10:00.',
        },
      },
      message: 'notification (log transport, development only)',
    },
  ]);
});

t.test('templates in Spanish: invitation, reminder, lab report, password reset', async (t) => {
  const es = { language: 'es' as const, senderName: null };
  const mail = renderMessage({ ...invitation, ...es });
  t.equal(mail.subject, 'Su invitación a North Clinic');
  t.equal(
    mail.text,
    [
      'Le han invitado a unirse a North Clinic como médico.',
      '',
      `Para aceptar, elija una contraseña con este código de invitación: ${TOKEN}`,
      '',
      'La invitación caduca el lunes, 15 de marzo de 2027, 10:30. Si no la esperaba, ignore este mensaje.',
      '',
      'North Clinic',
      '',
    ].join('\n'),
  );
  t.equal(mail.senderName, 'North Clinic', 'no sender name set: the clinic name');
  t.equal(
    renderMessage({ ...reminder, ...es, payload: { ...reminder.payload, window: '2h' } }, appointment).text,
    'North Clinic: Recordatorio: cita con Dr Ana Ruiz el lunes, 8 de marzo de 2027, 10:00.',
  );
  const lab = renderMessage({ ...invitation, ...es, kind: 'lab_report_released', payload: { audience: 'doctor', critical: true } });
  t.equal(lab.subject, 'Informe de laboratorio publicado: valores críticos');
  const reset = renderMessage({
    ...invitation,
    ...es,
    kind: 'password_reset',
    clinicId: null,
    clinicName: null,
    payload: { token: 'rst_1', expires_in: '00:30:00' },
  });
  t.equal(
    reset.text,
    'Alguien ha pedido restablecer la contraseña de esta cuenta. Para elegir una nueva, use este código: rst_1\n\nEl código sirve una sola vez, durante 30 minutos.\n\nSi no lo ha pedido, ignore este mensaje: su contraseña no cambia.\n',
  );
  t.ok(reset.html?.startsWith('<!doctype html>\n<html lang="es">'));
});

t.test('templates: HTML escapes what the text says; rows that can never make a message are undeliverable', async (t) => {
  const named = renderMessage({ ...invitation, payload: { ...invitation.payload, clinic_name: 'A&B <Clinic>' } });
  t.ok(named.html?.includes('<p>You have been invited to join A&#38;B &#60;Clinic&#62; as doctor.</p>'));
  t.throws(() => renderMessage({ ...invitation, kind: 'newsletter' }), new UndeliverableError('no template for kind newsletter'));
  t.throws(() => renderMessage({ ...invitation, payload: { clinic_name: 'x' } }), UndeliverableError);
  t.throws(() => renderMessage(reminder), new UndeliverableError('appointment not found'));
  t.throws(() => renderMessage(reminder, { ...appointment, status: 'cancelled' }), new UndeliverableError('appointment is cancelled'));
  t.throws(() => renderMessage({ ...reminder, payload: { appointmentId: 'not-a-uuid', window: '24h' } }, appointment), UndeliverableError);
});

t.test('configuration: log by default, each transport with what it needs, problems in one message', async (t) => {
  const defaults = loadConfig({ DATA_DIR: '/srv/clinicbase' }).notifications;
  t.same(defaults, { transport: 'log', fileDir: '/srv/clinicbase/outbox', timeoutMs: 10000, smtp: undefined, smsWebhook: undefined });
  const smtp = loadConfig({ NOTIFY_TRANSPORT: 'smtp', SMTP_URL: 'smtps://u:p@mail.example.test:465', SMTP_FROM: 'no-reply@example.test' }).notifications;
  t.same(smtp.smtp, { url: 'smtps://u:p@mail.example.test:465', from: 'no-reply@example.test' });
  const error = (() => {
    try {
      loadConfig({ NOTIFY_TRANSPORT: 'smtp', SMS_WEBHOOK_URL: 'ftp://gateway', NOTIFY_TIMEOUT_MS: '0' });
    } catch (e) {
      return e;
    }
  })() as ConfigError;
  t.type(error, ConfigError);
  t.same(error.problems, [
    'NOTIFY_TIMEOUT_MS: Too small: expected number to be >=1',
    'SMS_WEBHOOK_URL: must be an http:// or https:// URL',
    'SMTP_URL, SMTP_FROM: required with NOTIFY_TRANSPORT=smtp',
    'SMS_WEBHOOK_SECRET: SMS_WEBHOOK_URL and SMS_WEBHOOK_SECRET go together',
  ]);
  t.throws(() => loadConfig({ NOTIFY_TRANSPORT: 'webhook' }), /SMS_WEBHOOK_URL: required with NOTIFY_TRANSPORT=webhook/);
});

t.test('transports by channel: SMS through the webhook when set, never through SMTP', async (t) => {
  const log = () => {};
  const withWebhook = createTransports(
    loadConfig({
      NOTIFY_TRANSPORT: 'smtp',
      SMTP_URL: 'smtp://127.0.0.1:1',
      SMTP_FROM: 'a@b.test',
      SMS_WEBHOOK_URL: 'https://sms.test/hook',
      SMS_WEBHOOK_SECRET: SECRET,
    }).notifications,
    log,
  );
  t.same([withWebhook.email.name, withWebhook.sms.name], ['smtp', 'webhook']);
  const smtpOnly = createTransports(loadConfig({ NOTIFY_TRANSPORT: 'smtp', SMTP_URL: 'smtp://127.0.0.1:1', SMTP_FROM: 'a@b.test' }).notifications, log);
  await t.rejects(smtpOnly.sms.send(renderMessage(reminder, appointment)), {
    name: 'DeliveryError',
    reason: 'no transport for sms: set SMS_WEBHOOK_URL and SMS_WEBHOOK_SECRET',
  });
  const development = createTransports(loadConfig({}).notifications, log);
  t.same([development.email.name, development.sms.name], ['log', 'log']);
  const files = createTransports(loadConfig({ NOTIFY_TRANSPORT: 'file' }).notifications, log);
  t.same([files.email.name, files.sms.name], ['file', 'file']);
  const gateway = createTransports(
    loadConfig({ NOTIFY_TRANSPORT: 'webhook', SMS_WEBHOOK_URL: 'https://gw.test/hook', SMS_WEBHOOK_SECRET: SECRET }).notifications,
    log,
  );
  t.same([gateway.email.name, gateway.sms.name], ['webhook', 'webhook']);
});
