/** PNG encoding of rasters and binary masks (PNG specification, ISO/IEC 15948; filter 0, zlib deflate). */
import { crc32, deflateSync } from 'node:zlib';
import type { BinaryMask } from '../core/mask.ts';
import type { Raster } from '../core/raster.ts';
import { ImageError } from './image-error.ts';

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

const isRaster = (image: Raster | BinaryMask): image is Raster => 'channels' in image;

/**
 * Encodes a raster as PNG: 8-bit grey (Uint8Array, 1 channel), 16-bit grey (Uint16Array, 1 channel), 8- or
 * 16-bit RGB (3 channels). A BinaryMask becomes 8-bit grey with 0 outside and 255 inside. Signed and float
 * rasters are refused (map them with toGrey8 first).
 */
export function encodePng(image: Raster | BinaryMask): Uint8Array {
  const { width, height } = image;
  const channels = isRaster(image) ? image.channels : 1;
  let depth: 8 | 16;
  let samples: ArrayLike<number>;
  if (!isRaster(image)) {
    depth = 8;
    const grey = new Uint8Array(image.data.length);
    for (let i = 0; i < grey.length; i++) grey[i] = image.data[i] !== 0 ? 255 : 0;
    samples = grey;
  } else if (image.data instanceof Uint8Array) {
    depth = 8;
    samples = image.data;
  } else if (image.data instanceof Uint16Array) {
    depth = 16;
    samples = image.data;
  } else {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `PNG encoding takes Uint8Array or Uint16Array samples, got ${image.data.constructor.name}; map values with toGrey8 first`,
    );
  }
  if (!(width > 0 && height > 0) || samples.length !== width * height * channels) {
    throw new ImageError(
      'BAD_IMAGE',
      `raster ${width}x${height}x${channels} needs ${width * height * channels} samples, has ${samples.length}`,
    );
  }
  const bytesPerSample = depth / 8;
  const rowBytes = width * channels * bytesPerSample;
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    const rowStart = y * (rowBytes + 1) + 1; // the leading byte is filter type 0 (None)
    const base = y * width * channels;
    for (let i = 0; i < width * channels; i++) {
      const v = samples[base + i];
      if (depth === 8) raw[rowStart + i] = v;
      else raw.writeUInt16BE(v, rowStart + 2 * i);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = channels === 3 ? 2 : 0;
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
