/** Typed errors for everything the imaging layer rejects. */

/**
 * Why an image was rejected:
 * - `BAD_IMAGE`: the bytes are malformed, truncated or contradict their own header;
 * - `UNSUPPORTED_FORMAT`: a well-formed input in a format or pixel layout the gateway does not decode;
 * - `IMAGE_TOO_LARGE`: the header declares more pixels (or voxels, or bytes) than the configured limit;
 * - `UNSUPPORTED_TRANSFER_SYNTAX`: a DICOM file whose transfer syntax (compression) is not decoded here.
 */
export type ImageErrorCode =
  'BAD_IMAGE' | 'UNSUPPORTED_FORMAT' | 'IMAGE_TOO_LARGE' | 'UNSUPPORTED_TRANSFER_SYNTAX';

/** An input image the imaging layer refuses, with a machine-readable `code` and a message for people. */
export class ImageError extends Error {
  readonly code: ImageErrorCode;

  constructor(code: ImageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageError';
    this.code = code;
  }
}

/**
 * A request the image cannot satisfy: a frame, slice or axis outside it, or a malformed window. The asker's
 * mistake, where an ImageError is the file's.
 */
export class ImageRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageRequestError';
  }
}

/** Default upper bound on decoded pixels (or voxels) per input: 2^26 (about 67 million). */
export const DEFAULT_MAX_PIXELS = 1 << 26;

/** Throws IMAGE_TOO_LARGE when `count` exceeds `maxPixels`; `what` names the input in the message. */
export function checkPixelLimit(count: number, maxPixels: number, what: string): void {
  if (!Number.isFinite(count) || count > maxPixels) {
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `${what} declares ${count} pixels, over the limit of ${maxPixels}`,
    );
  }
}

/**
 * Runs a decoder over untrusted bytes so that only ImageErrors leave it: an ImageError gets `what` in front
 * of its message when `what` is given, and anything else (a RangeError from reading past the end of a
 * truncated buffer, a codec's own exception) becomes BAD_IMAGE naming `what`.
 */
export function decoding<T>(what: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (err: unknown) {
    // The request's own mistakes (a frame or slice outside the image) keep their class and message.
    if (err instanceof ImageRequestError) throw err;
    if (err instanceof ImageError) {
      if (what === undefined) throw err;
      throw new ImageError(err.code, `${what}: ${err.message}`, { cause: err });
    }
    const message = err instanceof Error ? err.message : String(err);
    throw new ImageError('BAD_IMAGE', `${what ?? 'image'} could not be decoded: ${message}`, { cause: err });
  }
}
