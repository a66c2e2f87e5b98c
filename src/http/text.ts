// Text a client sends. Postgres text cannot hold NUL (SQLSTATE 22021) and no field of ours wants
// a bell, an escape or a backspace, which only ever arrive to break a parser, a log line or a
// terminal. Every string of every input schema is built from one of these, so such text is a 400
// naming the field instead of a database error. Everything printable passes: accents, every
// script, emoji; passwords may hold any printable Unicode.
import { z } from 'zod';

/** C0 controls (U+0000–U+001F) and DEL (U+007F). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this module's job.
const CONTROL = /[\u0000-\u001f\u007f]/;
/** The same, less tab, line feed and carriage return, which a multi-line field keeps. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above.
const CONTROL_EXCEPT_LINE_BREAKS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

const MESSAGE = 'must not contain control characters';

export function hasControlCharacters(value: string, options: { multiline?: boolean } = {}): boolean {
  return (options.multiline ? CONTROL_EXCEPT_LINE_BREAKS : CONTROL).test(value);
}

/** The check alone, for string formats that do not start from plainText (z.url()). */
export const withoutControlCharacters = (options: { multiline?: boolean } = {}) => z.refine<string>((value) => !hasControlCharacters(value, options), MESSAGE);

/** One line of text: names, codes, e-mails, passwords, tokens. */
export const plainText = z.string().check(withoutControlCharacters());

/** Text with lines: descriptions, addresses, reasons. Tab, CR and LF allowed. */
export const multilineText = z.string().check(withoutControlCharacters({ multiline: true }));
