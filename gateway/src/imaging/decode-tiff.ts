/** TIFF decoding to a Raster (TIFF 6.0 baseline plus LZW/Deflate/PackBits through utif), first page only. */
import UTIF from 'utif';
import type { Raster } from '../core/raster.ts';
import { checkPixelLimit, ImageError } from './image-error.ts';

const tag = (ifd: Record<string, unknown>, id: number, fallback: number): number => {
  const v = ifd[`t${id}`];
  return Array.isArray(v) && typeof v[0] === 'number' ? v[0] : fallback;
};

/** Most image file directories a TIFF may chain (main chain); more is treated as malformed. */
export const MAX_TIFF_DIRECTORIES = 1024;
/** Most entries in one directory (each 12 bytes; real files have a few dozen). */
const MAX_TIFF_ENTRIES = 4096;

/** Bytes per value of each TIFF field type (TIFF 6.0 section 2, plus the 4-byte IFD type 13). */
const TYPE_BYTES: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
};

const badTiff = (message: string): ImageError => new ImageError('BAD_IMAGE', `TIFF ${message}`);

/**
 * Reads the first image file directory of a TIFF with every structural check a decoder skips: a known byte
 * order and magic, directory offsets inside the file, a main directory chain without loops and at most
 * MAX_TIFF_DIRECTORIES long, entry values inside the file, and (in {@link decodeTiff}) strips or tiles that
 * lie inside the file and hold the bytes the header declares. Returns the directory in utif's shape
 * (`t<tag>`: values), so utif decodes pixels from it without walking the file's chains itself.
 */
export function readTiffDirectory(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length < 8) throw badTiff(`of ${bytes.length} bytes has no header`);
  const order = String.fromCharCode(bytes[0], bytes[1]);
  if (order !== 'II' && order !== 'MM') throw badTiff(`byte order '${order}' is neither II nor MM`);
  const little = order === 'II';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, little);
  const u32 = (at: number) => view.getUint32(at, little);
  const magic = u16(2);
  if (magic === 43)
    throw new ImageError('UNSUPPORTED_FORMAT', 'BigTIFF is not supported; save as classic TIFF');
  if (magic !== 42) throw badTiff(`magic number ${magic}, expected 42`);
  const directoryAt = (offset: number, what: string): number => {
    if (offset < 8 || offset + 2 > bytes.length)
      throw badTiff(`${what} offset ${offset} lies outside the ${bytes.length}-byte file`);
    const entries = u16(offset);
    if (entries > MAX_TIFF_ENTRIES)
      throw badTiff(`${what} declares ${entries} entries (at most ${MAX_TIFF_ENTRIES})`);
    if (offset + 2 + entries * 12 + 4 > bytes.length)
      throw badTiff(`${what} of ${entries} entries runs past the end of the file`);
    return entries;
  };
  // The whole main chain is walked, so a loop or a runaway chain anywhere is refused before any decoding.
  const first = u32(4);
  const seen = new Set<number>();
  for (let offset = first, n = 0; offset !== 0; n++) {
    if (seen.has(offset)) throw badTiff(`directory chain loops back to offset ${offset}`);
    if (n >= MAX_TIFF_DIRECTORIES) throw badTiff(`has more than ${MAX_TIFF_DIRECTORIES} directories`);
    seen.add(offset);
    const entries = directoryAt(offset, `directory ${n}`);
    offset = u32(offset + 2 + entries * 12);
  }
  const entries = directoryAt(first, 'directory 0');
  const ifd: Record<string, unknown> = {};
  for (let i = 0; i < entries; i++) {
    const at = first + 2 + i * 12;
    const id = u16(at);
    const type = u16(at + 2);
    const count = u32(at + 4);
    const size = TYPE_BYTES[type];
    // Unknown types are skipped, as TIFF 6.0 asks readers to do.
    if (size === undefined) continue;
    const total = count * size;
    const valueAt = total <= 4 ? at + 8 : u32(at + 8);
    if (valueAt + total > bytes.length)
      throw badTiff(
        `tag ${id} declares ${count} values at offset ${valueAt}, past the end of the ${bytes.length}-byte file`,
      );
    if (type === 1 || type === 7 || type === 2 || type === 6) {
      ifd[`t${id}`] = bytes.subarray(valueAt, valueAt + count);
      continue;
    }
    const values: number[] = [];
    for (let k = 0; k < count; k++) {
      const p = valueAt + k * size;
      switch (type) {
        case 3:
          values.push(u16(p));
          break;
        case 4:
        case 13:
          values.push(u32(p));
          break;
        case 8:
          values.push(view.getInt16(p, little));
          break;
        case 9:
          values.push(view.getInt32(p, little));
          break;
        case 5:
          values.push(u32(p) / u32(p + 4));
          break;
        case 10:
          values.push(view.getInt32(p, little) / view.getInt32(p + 4, little));
          break;
        case 11:
          values.push(view.getFloat32(p, little));
          break;
        default:
          values.push(view.getFloat64(p, little));
      }
    }
    ifd[`t${id}`] = values;
  }
  return ifd;
}

/** Numbers of a tag (undefined when absent or not numeric). */
function numbers(ifd: Record<string, unknown>, id: number): number[] | undefined {
  const v = ifd[`t${id}`];
  return Array.isArray(v) ? (v as number[]) : undefined;
}

/**
 * Strips or tiles of the first directory: present, as many as the image needs, inside the file, and, when
 * uncompressed, holding every byte the image needs (a truncated file is BAD_IMAGE, never zero pixels).
 */
function checkPixelChunks(
  ifd: Record<string, unknown>,
  fileBytes: number,
  geometry: { width: number; height: number; bytesPerPixel: number; maxPixels: number },
): void {
  const { width, height, bytesPerPixel } = geometry;
  const compression = tag(ifd, 259, 1);
  const tileWidth = tag(ifd, 322, 0);
  const tiled = ifd.t322 !== undefined;
  const offsets = numbers(ifd, tiled ? 324 : 273);
  const counts = numbers(ifd, tiled ? 325 : 279);
  const what = tiled ? 'tile' : 'strip';
  if (!offsets || offsets.length === 0) throw badTiff(`has no ${what} offsets`);
  let needed: number;
  let chunkBytes: number;
  if (tiled) {
    const tileHeight = tag(ifd, 323, 0);
    if (tileWidth <= 0 || tileHeight <= 0 || tileWidth % 16 !== 0 || tileHeight % 16 !== 0)
      throw badTiff(`tile size ${tileWidth}x${tileHeight} must be positive multiples of 16`);
    checkPixelLimit(tileWidth * tileHeight, geometry.maxPixels, `TIFF tile ${tileWidth}x${tileHeight}`);
    needed = Math.ceil(width / tileWidth) * Math.ceil(height / tileHeight);
    chunkBytes = tileWidth * tileHeight * bytesPerPixel;
  } else {
    const rows = Math.min(tag(ifd, 278, height), height);
    if (rows <= 0) throw badTiff(`rows per strip ${rows} must be positive`);
    needed = Math.ceil(height / rows);
    chunkBytes = rows * Math.ceil(width * bytesPerPixel);
  }
  if (offsets.length < needed) throw badTiff(`has ${offsets.length} ${what}s, the image needs ${needed}`);
  // utif assumes one uncompressed strip holds the whole image whatever its byte count says.
  const declared =
    compression === 1 && !tiled && offsets.length === 1
      ? [height * Math.ceil(width * bytesPerPixel)]
      : counts;
  if (!declared || declared.length < needed)
    throw badTiff(`declares ${declared?.length ?? 0} ${what} byte counts, the image needs ${needed}`);
  for (let i = 0; i < needed; i++) {
    const end = offsets[i] + declared[i];
    if (!(offsets[i] >= 0) || !(declared[i] >= 0) || end > fileBytes)
      throw badTiff(
        `${what} ${i} needs bytes ${offsets[i]}..${end} of a ${fileBytes}-byte file (truncated?)`,
      );
    if (compression === 1) {
      // The last strip may be shorter: it holds only the rows left.
      const last = !tiled && i === needed - 1;
      const want = last
        ? (height - i * (chunkBytes / Math.ceil(width * bytesPerPixel))) * Math.ceil(width * bytesPerPixel)
        : chunkBytes;
      if (declared[i] < want)
        throw badTiff(`uncompressed ${what} ${i} holds ${declared[i]} bytes, needs ${want} (truncated?)`);
    }
  }
}

/**
 * Decodes the first page of a TIFF: 8/16-bit unsigned, 16-bit signed or 32-bit float grey (BlackIsZero or
 * WhiteIsZero, the latter inverted), 8/16-bit RGB (extra samples such as alpha dropped), chunky planar
 * configuration. Dimensions are read from the IFD and checked against `maxPixels` before decompression.
 */
export function decodeTiff(bytes: Uint8Array, maxPixels: number): Raster {
  // Our own bounded reader, not UTIF.decode: utif follows next-directory and sub-directory offsets
  // without a limit, so one self-referencing offset grows its directory list until the heap is gone.
  const ifd = readTiffDirectory(bytes);
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
  checkPixelChunks(ifd, bytes.length, {
    width,
    height,
    bytesPerPixel: (bits / 8) * samples,
    maxPixels,
  });
  try {
    UTIF.decodeImage(bytes, ifd, [ifd]);
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
