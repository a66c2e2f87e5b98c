// What each kind of message says, per language. Plain sentences only: the renderer makes the
// e-mail's text and HTML and the SMS of them. Nothing here reads a payload.
import type { Language } from './message.ts';

export interface Content {
  subject: string;
  paragraphs: string[];
  /** The SMS: one short line (the sender's name is put in front of it). */
  sms: string;
}

export interface InvitationFacts {
  clinicName: string;
  role: string;
  token: string;
  expiresAt: string;
  setsPassword: boolean;
}
export interface PasswordResetFacts {
  token: string;
  /** Minutes, or the interval as Postgres wrote it when it is not a whole number of minutes. */
  expiresIn: number | string;
}
export interface LabReportFacts {
  clinicName: string;
  audience: 'doctor' | 'patient';
  critical: boolean;
}
export interface AppointmentCopyFacts {
  clinicName: string;
  doctorName: string;
  when: string;
}
export type ReminderWindow = '24h' | '2h';

export interface Copy {
  /** The BCP 47 locale dates are written in. */
  locale: string;
  invitation(facts: InvitationFacts): Content;
  passwordReset(facts: PasswordResetFacts): Content;
  labReportReleased(facts: LabReportFacts): Content;
  appointmentConfirmation(facts: AppointmentCopyFacts): Content;
  appointmentReminder(facts: AppointmentCopyFacts & { window: ReminderWindow }): Content;
}

const EN_ROLES: Record<string, string> = {
  clinic_admin: 'clinic administrator',
  doctor: 'doctor',
  nurse: 'nurse',
  receptionist: 'receptionist',
  lab_technician: 'lab technician',
  patient: 'patient',
};

const ES_ROLES: Record<string, string> = {
  clinic_admin: 'administrador de la clínica',
  doctor: 'médico',
  nurse: 'personal de enfermería',
  receptionist: 'personal de recepción',
  lab_technician: 'técnico de laboratorio',
  patient: 'paciente',
};

const en: Copy = {
  locale: 'en',
  invitation: (f) => ({
    subject: `Your invitation to ${f.clinicName}`,
    paragraphs: [
      `You have been invited to join ${f.clinicName} as ${EN_ROLES[f.role] ?? f.role}.`,
      f.setsPassword
        ? `To accept, choose a password with this invitation code: ${f.token}`
        : `To accept, sign in with your existing password and this invitation code: ${f.token}`,
      `The invitation expires on ${f.expiresAt}. If you did not expect it, ignore this message.`,
    ],
    sms: `Invitation to ${f.clinicName}. Code: ${f.token}`,
  }),
  passwordReset: (f) => ({
    subject: 'Reset your password',
    paragraphs: [
      `Someone asked to reset the password of this account. To choose a new one, use this code: ${f.token}`,
      typeof f.expiresIn === 'number' ? `The code works once, for ${f.expiresIn} minutes.` : `The code works once, for ${f.expiresIn}.`,
      'If you did not ask for it, ignore this message: your password stays as it is.',
    ],
    sms: `Password reset code: ${f.token}`,
  }),
  labReportReleased: (f) =>
    f.audience === 'doctor'
      ? {
          subject: f.critical ? 'Lab report released: critical values' : 'Lab report released',
          paragraphs: [
            `A lab report you requested at ${f.clinicName} has been released.`,
            ...(f.critical ? ['It has critical values: please review it soon.'] : []),
          ],
          sms: f.critical ? 'A lab report you requested is released, with critical values.' : 'A lab report you requested is released.',
        }
      : {
          subject: 'Your lab report is ready',
          paragraphs: [`Your lab report from ${f.clinicName} is ready. Sign in to the patient portal to read it.`],
          sms: 'Your lab report is ready. Sign in to the patient portal to read it.',
        },
  appointmentConfirmation: (f) => ({
    subject: `Appointment confirmed: ${f.when}`,
    paragraphs: [`Your appointment at ${f.clinicName} with ${f.doctorName} is booked for ${f.when}.`, 'If you cannot come, please let us know.'],
    sms: `Appointment booked with ${f.doctorName} on ${f.when}.`,
  }),
  appointmentReminder: (f) => ({
    subject: f.window === '2h' ? `Your appointment today at ${f.clinicName}` : `Reminder: your appointment at ${f.clinicName}`,
    paragraphs: [`This is a reminder of your appointment at ${f.clinicName} with ${f.doctorName} on ${f.when}.`, 'If you cannot come, please let us know.'],
    sms: `Reminder: appointment with ${f.doctorName} on ${f.when}.`,
  }),
};

const es: Copy = {
  locale: 'es',
  invitation: (f) => ({
    subject: `Su invitación a ${f.clinicName}`,
    paragraphs: [
      `Le han invitado a unirse a ${f.clinicName} como ${ES_ROLES[f.role] ?? f.role}.`,
      f.setsPassword
        ? `Para aceptar, elija una contraseña con este código de invitación: ${f.token}`
        : `Para aceptar, inicie sesión con su contraseña actual y este código de invitación: ${f.token}`,
      `La invitación caduca el ${f.expiresAt}. Si no la esperaba, ignore este mensaje.`,
    ],
    sms: `Invitación a ${f.clinicName}. Código: ${f.token}`,
  }),
  passwordReset: (f) => ({
    subject: 'Restablezca su contraseña',
    paragraphs: [
      `Alguien ha pedido restablecer la contraseña de esta cuenta. Para elegir una nueva, use este código: ${f.token}`,
      typeof f.expiresIn === 'number'
        ? `El código sirve una sola vez, durante ${f.expiresIn} minutos.`
        : `El código sirve una sola vez, durante ${f.expiresIn}.`,
      'Si no lo ha pedido, ignore este mensaje: su contraseña no cambia.',
    ],
    sms: `Código para restablecer la contraseña: ${f.token}`,
  }),
  labReportReleased: (f) =>
    f.audience === 'doctor'
      ? {
          subject: f.critical ? 'Informe de laboratorio publicado: valores críticos' : 'Informe de laboratorio publicado',
          paragraphs: [
            `Se ha publicado un informe de laboratorio que usted solicitó en ${f.clinicName}.`,
            ...(f.critical ? ['Tiene valores críticos: revíselo pronto, por favor.'] : []),
          ],
          sms: f.critical ? 'Se ha publicado un informe que solicitó, con valores críticos.' : 'Se ha publicado un informe de laboratorio que solicitó.',
        }
      : {
          subject: 'Su informe de laboratorio está listo',
          paragraphs: [`Su informe de laboratorio de ${f.clinicName} está listo. Inicie sesión en el portal del paciente para leerlo.`],
          sms: 'Su informe de laboratorio está listo. Consúltelo en el portal del paciente.',
        },
  appointmentConfirmation: (f) => ({
    subject: `Cita confirmada: ${f.when}`,
    paragraphs: [`Su cita en ${f.clinicName} con ${f.doctorName} está reservada para el ${f.when}.`, 'Si no puede venir, avísenos, por favor.'],
    sms: `Cita reservada con ${f.doctorName} el ${f.when}.`,
  }),
  appointmentReminder: (f) => ({
    subject: f.window === '2h' ? `Su cita de hoy en ${f.clinicName}` : `Recordatorio: su cita en ${f.clinicName}`,
    paragraphs: [`Le recordamos su cita en ${f.clinicName} con ${f.doctorName} el ${f.when}.`, 'Si no puede venir, avísenos, por favor.'],
    sms: `Recordatorio: cita con ${f.doctorName} el ${f.when}.`,
  }),
};

export const COPY: Record<Language, Copy> = { en, es };
