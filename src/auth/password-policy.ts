// The password rule for every password a person sets (never checked at login): at least 12
// characters, and not a common password, nor one with digits or symbols merely appended to one,
// per the bundled list of @zxcvbn-ts/language-common (about 49,000 leaked passwords).
import { dictionary } from '@zxcvbn-ts/language-common';
import { z } from 'zod';

const common = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));

export const MIN_PASSWORD_LENGTH = 12;

/** Why the password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string): string | undefined {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (length > 1024) return 'must be at most 1024 characters';
  const lower = password.toLowerCase();
  const core = lower.replace(/[\d\W_]+$/u, '');
  if (common.has(lower) || (core.length >= 4 && common.has(core))) return 'is a commonly used password';
  if (/^(.)\1*$/u.test(password) || core.length === 0) return 'is too easy to guess';
  return undefined;
}

/** zod schema for a new password, naming the rule that failed. */
export const newPassword = z.string().superRefine((password, ctx) => {
  const problem = passwordProblem(password);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
