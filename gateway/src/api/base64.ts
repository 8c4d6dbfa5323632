/** Strict base64 decoding of image bytes sent through GraphQL. */
import { ApiError } from './errors.ts';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes base64 strictly: anything outside the standard alphabet is a BAD_IMAGE, not silently dropped. */
export function decodeBase64(text: string, maxBytes: number): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (!BASE64.test(clean) || clean.length % 4 === 1) {
    throw new ApiError(
      'BAD_IMAGE',
      'image base64 is malformed (standard alphabet A-Z a-z 0-9 + / with = padding expected)',
    );
  }
  if ((clean.length * 3) / 4 > maxBytes + 3) {
    throw new ApiError('IMAGE_TOO_LARGE', `image is larger than ${maxBytes} bytes`);
  }
  const bytes = Buffer.from(clean, 'base64');
  if (bytes.length === 0) throw new ApiError('BAD_IMAGE', 'image bytes are empty');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
