// multipart/form-data bodies as clients send them: a browser's FormData, serialised by undici's
// Response (not by the code under test), and raw ones for what FormData would not send.

/** A file part: its bytes, and the name and type the client claims for it. */
export interface FilePart {
  bytes: Buffer;
  name?: string;
  type?: string;
}

export type Part = [name: string, value: string] | [name: string, file: FilePart];

/** A multipart/form-data body as a browser's FormData serialises it. */
export async function multipart(parts: Part[]): Promise<{ headers: Record<string, string>; payload: Buffer }> {
  const data = new FormData();
  for (const [name, value] of parts) {
    if (typeof value === 'string') data.append(name, value);
    else data.append(name, new Blob([value.bytes], { type: value.type ?? 'application/octet-stream' }), value.name ?? 'upload.bin');
  }
  const body = new Response(data);
  return { headers: { 'content-type': body.headers.get('content-type')! }, payload: Buffer.from(await body.arrayBuffer()) };
}

/**
 * A body written byte for byte: each part's Content-Disposition carries its name (and file name)
 * exactly as given, control characters included, which FormData would escape.
 */
export function rawMultipart(parts: { name: string; fileName?: string; value: Buffer | string }[]): { headers: Record<string, string>; payload: Buffer } {
  const boundary = '----clinicbase-test-boundary';
  const chunks = parts.flatMap(({ name, fileName, value }) => [
    Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="${name}"${fileName === undefined ? '' : `; filename="${fileName}"`}\r\n` +
        `${fileName === undefined ? '' : 'content-type: application/octet-stream\r\n'}\r\n`,
      'utf8',
    ),
    Buffer.from(value),
    Buffer.from('\r\n'),
  ]);
  return {
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)]),
  };
}
