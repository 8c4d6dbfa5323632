/** TIFF decoding to a Raster (TIFF 6.0 baseline plus LZW/Deflate/PackBits through utif), first page only. */
import UTIF from 'utif';
import type { Raster } from '../core/raster.ts';
import { checkPixelLimit, ImageError } from './image-error.ts';

const tag = (ifd: Record<string, unknown>, id: number, fallback: number): number => {
  const v = ifd[`t${id}`];
  return Array.isArray(v) && typeof v[0] === 'number' ? v[0] : fallback;
};

/**
 * Decodes the first page of a TIFF: 8/16-bit unsigned, 16-bit signed or 32-bit float grey (BlackIsZero or
 * WhiteIsZero, the latter inverted), 8/16-bit RGB (extra samples such as alpha dropped), chunky planar
 * configuration. Dimensions are read from the IFD and checked against `maxPixels` before decompression.
 */
export function decodeTiff(bytes: Uint8Array, maxPixels: number): Raster {
  let ifds: Record<string, unknown>[];
  try {
    ifds = UTIF.decode(bytes) as Record<string, unknown>[];
  } catch (err) {
    throw new ImageError('BAD_IMAGE', `TIFF directory could not be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const ifd = ifds[0];
  if (ifd === undefined) throw new ImageError('BAD_IMAGE', 'TIFF has no image file directory');
  const width = tag(ifd, 256, 0);
  const height = tag(ifd, 257, 0);
  if (width <= 0 || height <= 0)
    throw new ImageError('BAD_IMAGE', `TIFF declares an empty image (${width}x${height})`);
  checkPixelLimit(width * height, maxPixels, `TIFF ${width}x${height}`);
  const bits = tag(ifd, 258, 1);
  const samples = tag(ifd, 277, 1);
  const photometric = tag(ifd, 262, -1);
  const sampleFormat = tag(ifd, 339, 1);
  const planar = tag(ifd, 284, 1);
  if (planar !== 1)
    throw new ImageError('UNSUPPORTED_FORMAT', `TIFF planar configuration ${planar}; only 1 (chunky)`);
  const grey = photometric === 0 || photometric === 1;
  if (!grey && photometric !== 2) {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `TIFF photometric interpretation ${photometric}; expected 0, 1 or 2`,
    );
  }
  const layout = `${sampleFormat}:${bits}`;
  if (
    !['1:8', '1:16', '2:16', '3:32'].includes(layout) ||
    (!grey && bits === 32) ||
    (!grey && sampleFormat === 2)
  ) {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `TIFF with ${bits}-bit samples of format ${sampleFormat} and photometric ${photometric}; expected 8/16-bit grey or RGB, int16 or float32 grey`,
    );
  }
  const channels = grey ? 1 : 3;
  if (samples < channels) {
    throw new ImageError(
      'BAD_IMAGE',
      `TIFF has ${samples} samples per pixel, photometric ${photometric} needs ${channels}`,
    );
  }
  try {
    UTIF.decodeImage(bytes, ifd, ifds);
  } catch (err) {
    throw new ImageError('BAD_IMAGE', `TIFF pixels could not be decoded: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const raw = ifd.data as Uint8Array | undefined;
  const bytesPerSample = bits / 8;
  const n = width * height;
  if (raw === undefined || raw.length < n * samples * bytesPerSample) {
    throw new ImageError(
      'BAD_IMAGE',
      `TIFF pixel data holds ${raw?.length ?? 0} bytes, expected ${n * samples * bytesPerSample}`,
    );
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  // utif already swaps 16-bit big-endian samples into little-endian order; wider samples keep the file's order.
  const little = bits === 16 || bytes[0] === 0x49;
  const data =
    layout === '1:8'
      ? new Uint8Array(n * channels)
      : layout === '1:16'
        ? new Uint16Array(n * channels)
        : layout === '2:16'
          ? new Int16Array(n * channels)
          : new Float32Array(n * channels);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      const at = (i * samples + c) * bytesPerSample;
      switch (layout) {
        case '1:8':
          data[i * channels + c] = raw[at];
          break;
        case '1:16':
          data[i * channels + c] = view.getUint16(at, little);
          break;
        case '2:16':
          data[i * channels + c] = view.getInt16(at, little);
          break;
        default:
          data[i * channels + c] = view.getFloat32(at, little);
      }
    }
  }
  if (photometric === 0) invertInPlace(data, layout);
  return { width, height, channels, data };
}

// WhiteIsZero: the stored value counts down from white, so flip it into the BlackIsZero convention.
function invertInPlace(data: Uint8Array | Uint16Array | Int16Array | Float32Array, layout: string): void {
  let max = 0;
  if (layout === '1:8') max = 255;
  else if (layout === '1:16') max = 65535;
  for (let i = 0; i < data.length; i++)
    data[i] = layout === '1:8' || layout === '1:16' ? max - data[i] : -data[i];
}
