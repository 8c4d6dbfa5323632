/** multipart/related bodies (RFC 2387 over RFC 2046 5.1) as DICOMweb uses them (PS3.18 8.6.1.2). */

/** One body part: its header fields (lower-case names) and its bytes. */
export interface MultipartPart {
  headers: Record<string, string>;
  body: Uint8Array;
}

/** The value of a Content-Type parameter (quoted or not), or undefined. */
export function contentTypeParameter(contentType: string, name: string): string | undefined {
  const re = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]*))`, 'i');
  const m = re.exec(contentType);
  return m === null ? undefined : (m[1] ?? m[2]);
}

/**
 * Splits a multipart body into its parts. Tolerates a preamble, an epilogue, LF-only line ends and
 * transport padding after delimiters; a part's body ends before the CRLF that precedes the next delimiter.
 * Throws an Error with a description when the boundary never appears or the body is cut short.
 */
export function parseMultipart(body: Uint8Array, boundary: string): MultipartPart[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const parts: MultipartPart[] = [];
  let pos = buf.indexOf(delimiter);
  if (pos < 0) throw new Error(`multipart body has no delimiter "--${boundary}"`);
  while (true) {
    let after = pos + delimiter.length;
    if (buf[after] === 0x2d && buf[after + 1] === 0x2d) return parts; // close delimiter "--boundary--"
    // Skip transport padding (spaces, tabs) and the line end after the delimiter.
    while (buf[after] === 0x20 || buf[after] === 0x09) after++;
    if (buf[after] === 0x0d) after++;
    if (buf[after] !== 0x0a)
      throw new Error(`multipart delimiter at byte ${pos} is not followed by a line end`);
    after++;
    let headerEnd = buf.indexOf('\r\n\r\n', after, 'latin1');
    let bodyStart = headerEnd + 4;
    const lfEnd = buf.indexOf('\n\n', after, 'latin1');
    if (lfEnd >= 0 && (headerEnd < 0 || lfEnd < headerEnd)) {
      headerEnd = lfEnd;
      bodyStart = lfEnd + 2;
    }
    // A part may start directly with its body when it has no header fields.
    if (buf[after] === 0x0d && buf[after + 1] === 0x0a) {
      headerEnd = after;
      bodyStart = after + 2;
    } else if (buf[after] === 0x0a) {
      headerEnd = after;
      bodyStart = after + 1;
    }
    if (headerEnd < 0) throw new Error(`multipart part at byte ${after} has no end of headers`);
    const headers: Record<string, string> = {};
    for (const line of buf.subarray(after, headerEnd).toString('latin1').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const next = buf.indexOf(delimiter, bodyStart);
    if (next < 0) throw new Error(`multipart body ends inside a part (no delimiter after byte ${bodyStart})`);
    let bodyEnd = next;
    if (buf[bodyEnd - 1] === 0x0a) bodyEnd--;
    if (buf[bodyEnd - 1] === 0x0d) bodyEnd--;
    parts.push({ headers, body: new Uint8Array(buf.subarray(bodyStart, Math.max(bodyStart, bodyEnd))) });
    pos = next;
  }
}

/** Builds a multipart/related body with CRLF line ends; each part gets the given Content-Type. */
export function buildMultipart(
  parts: { contentType: string; body: Uint8Array }[],
  boundary: string,
): Uint8Array {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${p.contentType}\r\n\r\n`, 'latin1'));
    chunks.push(Buffer.from(p.body.buffer, p.body.byteOffset, p.body.byteLength));
    chunks.push(Buffer.from('\r\n', 'latin1'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`, 'latin1'));
  return Buffer.concat(chunks);
}
