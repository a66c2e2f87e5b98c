// What an uploaded file is, decided from its bytes alone: the client's content type and file name
// are never believed. PDF, PNG and JPEG are recognised by their signatures (file-type); anything
// file-type does not recognise may still be plain text, and is accepted as text/plain only when
// all of it is UTF-8 without control characters (tab, CR and LF allowed) and it does not start like
// markup or a script: an HTML or SVG page sent as a "PDF" must not come back as something a
// browser or a shell would run. Everything else is refused (415).
import { fileTypeFromBuffer } from 'file-type';
import { AppError } from '../errors.ts';
import { hasControlCharacters } from '../http/text.ts';

export const ACCEPTED_TYPES = ['application/pdf', 'image/png', 'image/jpeg', 'text/plain'] as const;
export type AcceptedType = (typeof ACCEPTED_TYPES)[number];

const SIGNED_TYPES: ReadonlySet<string> = new Set<AcceptedType>(['application/pdf', 'image/png', 'image/jpeg']);

/** file-type's own sample size: the formats it knows are recognised within the first 4100 bytes. */
export const SNIFF_BYTES = 4100;

/** A tag or declaration at the very start (after white space): HTML, SVG, XML. `<5 mg` is text. */
const LEADING_MARKUP = /^\s*<[a-z!?/]/i;
/** Elements that make a document active wherever they appear in its first bytes (legacy sniffers looked there). */
const ACTIVE_MARKUP = /<(?:!doctype|\?xml|html|head|body|script|iframe|frame|svg|object|embed|style|meta)\b/i;
/** `#!`: an interpreter line, a script a shell would run. */
const SCRIPT = /^#!/;

/**
 * Fed the bytes of one upload in order (`push`), says at the end (`finish`) which accepted type
 * they are, or throws 415 as soon as they cannot be one: after the first SNIFF_BYTES for a foreign
 * signature or for markup, at the first invalid byte for text.
 */
export class ContentSniffer {
  private head: Uint8Array[] = [];
  private headBytes = 0;
  private type: AcceptedType | undefined;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private readonly errorPath: string;

  /** `errorPath`: the field a refusal names (`body.file`). */
  constructor(errorPath: string) {
    this.errorPath = errorPath;
  }

  async push(chunk: Uint8Array): Promise<void> {
    if (this.type === 'text/plain') {
      this.checkText(chunk, true);
    } else if (this.type === undefined) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      if (this.headBytes >= SNIFF_BYTES) await this.decide();
    }
  }

  /** The type of all the bytes pushed (the stream has ended). */
  async finish(): Promise<AcceptedType> {
    if (this.type === undefined) await this.decide();
    // The last bytes must not end inside a character.
    if (this.type === 'text/plain') this.checkText(new Uint8Array(0), false);
    return this.type!;
  }

  private async decide(): Promise<void> {
    const head = Buffer.concat(this.head);
    this.head = [];
    let detected: { mime: string } | undefined;
    try {
      detected = await fileTypeFromBuffer(head);
    } catch (error) {
      throw this.refused('cannot be read as any known format', error);
    }
    if (detected) {
      if (!SIGNED_TYPES.has(detected.mime)) throw this.refused(`is ${detected.mime}`);
      this.type = detected.mime as AcceptedType;
      return;
    }
    const text = this.checkText(head, true);
    if (SCRIPT.test(text)) throw this.refused('is a script');
    if (LEADING_MARKUP.test(text) || ACTIVE_MARKUP.test(text)) throw this.refused('is markup (HTML, SVG or XML)');
    this.type = 'text/plain';
  }

  /** The text of `bytes` (a continuation while `more`); throws unless UTF-8 without control characters. */
  private checkText(bytes: Uint8Array, more: boolean): string {
    let text: string;
    try {
      text = this.decoder.decode(bytes, { stream: more });
    } catch (error) {
      throw this.refused('is not UTF-8 text', error);
    }
    if (hasControlCharacters(text, { multiline: true })) throw this.refused('holds control characters');
    return text;
  }

  private refused(what: string, cause?: unknown): AppError {
    return new AppError('UNSUPPORTED_MEDIA_TYPE', 'The file must be a PDF, PNG, JPEG or plain text.', {
      errors: [{ path: this.errorPath, message: `must be a PDF, PNG, JPEG or UTF-8 plain text; it ${what}` }],
      cause,
    });
  }
}
