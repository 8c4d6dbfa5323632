/**
 * GIF decoding for masks of public datasets (DRIVE's vessel labels ship as GIF): the first frame, as grey
 * when every palette colour used is grey, else RGB. Structural checks (screen size against the pixel budget,
 * every frame inside the screen) run before any pixel is decoded.
 */
import { GifReader } from 'omggif';
import type { Raster } from '../core/raster.ts';
import { ImageError } from './image-error.ts';

/** True when the bytes start with a GIF87a or GIF89a signature. */
export function isGif(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 6 &&
    bytes[0] === 0x47 &&
    bytes[1] === 0x49 &&
    bytes[2] === 0x46 &&
    bytes[3] === 0x38 &&
    (bytes[4] === 0x37 || bytes[4] === 0x39) &&
    bytes[5] === 0x61
  );
}

/** Decodes the first frame of a GIF into a Raster; BAD_IMAGE for malformed files, IMAGE_TOO_LARGE past `maxPixels`. */
export function decodeGif(bytes: Uint8Array, maxPixels: number): Raster {
  if (!isGif(bytes)) throw new ImageError('BAD_IMAGE', 'not a GIF (no GIF87a/GIF89a signature)');
  // The logical screen size sits in the header: check it before the reader parses anything else.
  if (bytes.length < 13) throw new ImageError('BAD_IMAGE', 'GIF truncated inside its header');
  const width = bytes[6] | (bytes[7] << 8);
  const height = bytes[8] | (bytes[9] << 8);
  if (width === 0 || height === 0) throw new ImageError('BAD_IMAGE', `GIF screen is ${width}x${height}`);
  if (width * height > maxPixels) {
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `GIF is ${width}x${height}, over the limit of ${maxPixels} pixels`,
    );
  }
  let reader: GifReader;
  try {
    reader = new GifReader(bytes);
  } catch (err: unknown) {
    throw new ImageError('BAD_IMAGE', `GIF could not be parsed: ${(err as Error).message}`, { cause: err });
  }
  if (reader.numFrames() < 1) throw new ImageError('BAD_IMAGE', 'GIF has no image frame');
  const frame = reader.frameInfo(0);
  if (frame.x + frame.width > width || frame.y + frame.height > height) {
    throw new ImageError(
      'BAD_IMAGE',
      `GIF frame ${frame.width}x${frame.height} at (${frame.x}, ${frame.y}) lies outside its ${width}x${height} screen`,
    );
  }
  if (frame.data_offset + frame.data_length > bytes.length) {
    throw new ImageError('BAD_IMAGE', 'GIF truncated inside its first frame');
  }
  const rgba = new Uint8Array(width * height * 4);
  try {
    reader.decodeAndBlitFrameRGBA(0, rgba);
  } catch (err: unknown) {
    throw new ImageError('BAD_IMAGE', `GIF frame could not be decoded: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const n = width * height;
  let grey = true;
  for (let i = 0; i < n && grey; i++) {
    const r = rgba[4 * i];
    grey = rgba[4 * i + 1] === r && rgba[4 * i + 2] === r;
  }
  if (grey) {
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = rgba[4 * i];
    return { width, height, channels: 1, data };
  }
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[3 * i] = rgba[4 * i];
    data[3 * i + 1] = rgba[4 * i + 1];
    data[3 * i + 2] = rgba[4 * i + 2];
  }
  return { width, height, channels: 3, data };
}
