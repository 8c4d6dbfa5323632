/** Baseline JPEG decoding to a Raster (ITU-T T.81), through jpeg-js. */
import jpeg from 'jpeg-js';
import type { Raster } from '../core/raster.ts';
import { checkPixelLimit, ImageError } from './image-error.ts';

/** Frame header fields of a JPEG (the SOFn segment), read without decoding entropy-coded data. */
export interface JpegHeader {
  /** The SOF marker's low byte: 0xc0 baseline, 0xc1 extended sequential, 0xc2 progressive, 0xc3 lossless... */
  sof: number;
  precision: number;
  width: number;
  height: number;
  components: number;
}

/** Scans JPEG marker segments up to the first SOFn and returns its fields; BAD_IMAGE when none is found. */
export function readJpegHeader(bytes: Uint8Array): JpegHeader {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
    throw new ImageError('BAD_IMAGE', 'JPEG does not start with the SOI marker FF D8');
  }
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) {
      throw new ImageError(
        'BAD_IMAGE',
        `JPEG marker expected at byte ${pos}, found 0x${bytes[pos].toString(16)}`,
      );
    }
    const marker = bytes[pos + 1];
    if (marker === 0xff) {
      pos += 1; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2;
      continue;
    }
    const length = (bytes[pos + 2] << 8) | bytes[pos + 3];
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (pos + 10 > bytes.length) break;
      return {
        sof: marker,
        precision: bytes[pos + 4],
        height: (bytes[pos + 5] << 8) | bytes[pos + 6],
        width: (bytes[pos + 7] << 8) | bytes[pos + 8],
        components: bytes[pos + 9],
      };
    }
    if (marker === 0xda || marker === 0xd9) break;
    pos += 2 + length;
  }
  throw new ImageError('BAD_IMAGE', 'JPEG has no frame header (SOFn) before its scan data or end');
}

/**
 * Decodes a baseline or progressive 8-bit JPEG with 1 (grey) or 3 (YCbCr/RGB, returned as RGB) components.
 * Lossless, 12-bit, arithmetic-coded and CMYK JPEGs are UNSUPPORTED_FORMAT. The pixel limit is checked
 * from the frame header before decoding.
 */
export function decodeJpeg(bytes: Uint8Array, maxPixels: number): Raster {
  const h = readJpegHeader(bytes);
  if (h.sof !== 0xc0 && h.sof !== 0xc1 && h.sof !== 0xc2) {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `JPEG process SOF${h.sof - 0xc0} is not supported; only baseline, extended and progressive Huffman`,
    );
  }
  if (h.precision !== 8) {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `JPEG sample precision ${h.precision} bits; only 8 is supported`,
    );
  }
  if (h.components !== 1 && h.components !== 3) {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `JPEG with ${h.components} components; expected 1 (grey) or 3`,
    );
  }
  if (h.width === 0 || h.height === 0) {
    throw new ImageError('BAD_IMAGE', `JPEG declares an empty or DNL-sized image (${h.width}x${h.height})`);
  }
  checkPixelLimit(h.width * h.height, maxPixels, `JPEG ${h.width}x${h.height}`);
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: Math.max(1, Math.ceil(maxPixels / 1e6)),
      maxMemoryUsageInMB: 2048,
    });
  } catch (err) {
    throw new ImageError('BAD_IMAGE', `JPEG could not be decoded: ${(err as Error).message}`, { cause: err });
  }
  const rgb = decoded.data;
  if (h.components === 3) return { width: decoded.width, height: decoded.height, channels: 3, data: rgb };
  // jpeg-js always expands to RGB; a single-component image has R = G = B.
  const n = decoded.width * decoded.height;
  const grey = new Uint8Array(n);
  for (let i = 0; i < n; i++) grey[i] = rgb[i * 3];
  return { width: decoded.width, height: decoded.height, channels: 1, data: grey };
}
