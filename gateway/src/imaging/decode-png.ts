/** PNG decoding to a Raster (PNG specification, ISO/IEC 15948). */
import { PNG } from 'pngjs';
import type { Raster } from '../core/raster.ts';
import { checkPixelLimit, ImageError } from './image-error.ts';

/** PNG image header fields, read from the IHDR chunk without touching pixel data. */
export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
}

/** Reads the IHDR chunk (the first chunk after the 8-byte signature); BAD_IMAGE when absent or zero-sized. */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < 33)
    throw new ImageError('BAD_IMAGE', `PNG truncated: ${bytes.length} bytes, a header needs 33`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]);
  if (type !== 'IHDR') throw new ImageError('BAD_IMAGE', `PNG's first chunk is "${type}", expected IHDR`);
  const header = {
    width: view.getUint32(16),
    height: view.getUint32(20),
    bitDepth: bytes[24],
    colorType: bytes[25],
  };
  if (header.width === 0 || header.height === 0) {
    throw new ImageError('BAD_IMAGE', `PNG declares an empty image (${header.width}x${header.height})`);
  }
  return header;
}

/**
 * Decodes a PNG: grey and grey+alpha become 1 channel, RGB, RGBA and palette become 3 (alpha dropped);
 * 16-bit images keep their 16-bit samples in a Uint16Array, lower depths are scaled to 8 bits.
 * The pixel limit is checked from the header before any pixel is inflated.
 */
export function decodePng(bytes: Uint8Array, maxPixels: number): Raster {
  const header = readPngHeader(bytes);
  checkPixelLimit(header.width * header.height, maxPixels, `PNG ${header.width}x${header.height}`);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      skipRescale: header.bitDepth === 16,
    });
  } catch (err) {
    throw new ImageError('BAD_IMAGE', `PNG could not be decoded: ${(err as Error).message}`, { cause: err });
  }
  // pngjs always hands back 4 interleaved samples per pixel (RGBA), Uint16Array for 16-bit input.
  const rgba = png.data as unknown as Uint8Array | Uint16Array;
  const grey = header.colorType === 0 || header.colorType === 4;
  const channels = grey ? 1 : 3;
  const n = header.width * header.height;
  const data = header.bitDepth === 16 ? new Uint16Array(n * channels) : new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) data[i * channels + c] = rgba[i * 4 + c];
  }
  return { width: header.width, height: header.height, channels, data };
}
