// Content-Disposition for a download (RFC 6266), from a name a client gave at upload. The name is
// metadata: whatever it holds, the header says "attachment" (never rendered in the page) and can
// neither end early nor carry a second header: control characters (CR, LF, NUL, DEL, C1), quotes
// and backslashes are removed, and folders too (`/`), so no client sees a path in it.
// Two forms: `filename` in plain ASCII for old clients, `filename*` with the full UTF-8 name
// percent-encoded (RFC 5987/8187) for every current one.

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f"\\/\u2028\u2029]/g;
const NOT_ASCII = /[^\u0020-\u007e]/g;

/** What stays of a name: without unsafe characters and surrounding spaces; `download` if nothing does. */
function safeName(name: string): string {
  return name.replace(UNSAFE, '').trim() || 'download';
}

/** RFC 5987 attr-chars stay; every other byte of the UTF-8 name is %XX. */
function encodeExtValue(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `attachment; filename="<ASCII>"; filename*=UTF-8''<percent-encoded>`. */
export function attachmentDisposition(originalName: string): string {
  const name = safeName(originalName);
  const ascii = name.replace(NOT_ASCII, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeExtValue(name)}`;
}
