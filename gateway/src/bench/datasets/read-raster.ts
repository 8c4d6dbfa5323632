/** Reads a 2-D image file of a dataset (PNG, JPEG, TIFF or GIF, sniffed from its bytes) into a Raster. */
import { relative } from 'node:path';
import type { Raster } from '../../core/raster.ts';
import { decodeGif, isGif } from '../../imaging/decode-gif.ts';
import { decodeJpeg } from '../../imaging/decode-jpeg.ts';
import { decodePng } from '../../imaging/decode-png.ts';
import { decodeTiff } from '../../imaging/decode-tiff.ts';
import { DEFAULT_MAX_PIXELS } from '../../imaging/image-error.ts';
import { readFileUnder } from '../../imaging/confined-file.ts';
import { sniffImageFormat } from '../../imaging/image-format.ts';

/**
 * Reads a file of the dataset at `root`, only when it really lies under `root` (a symlink out of the
 * dataset is refused); messages name it relative to the root.
 */
export function readDatasetFile(root: string, file: string): Promise<Uint8Array> {
  return readFileUnder(file, [root], { name: `'${relative(root, file)}'` });
}

/** Decodes a PNG, JPEG, TIFF or GIF file of the dataset at `root`; throws for anything else or a corrupt file. */
export async function readRaster(root: string, file: string): Promise<Raster> {
  return (await readRasterWithBytes(root, file)).raster;
}

/** {@link readRaster} with the file's bytes (a mask's rule looks at its format). */
export async function readRasterWithBytes(
  root: string,
  file: string,
): Promise<{ raster: Raster; bytes: Uint8Array }> {
  const bytes = await readDatasetFile(root, file);
  return { raster: decodeRasterBytes(bytes), bytes };
}

function decodeRasterBytes(bytes: Uint8Array): Raster {
  // GIF (DRIVE's masks) is read for datasets only; the API's image inputs do not take it.
  if (isGif(bytes)) return decodeGif(bytes, DEFAULT_MAX_PIXELS);
  const format = sniffImageFormat(bytes);
  switch (format) {
    case 'png':
      return decodePng(bytes, DEFAULT_MAX_PIXELS);
    case 'jpeg':
      return decodeJpeg(bytes, DEFAULT_MAX_PIXELS);
    case 'tiff':
      return decodeTiff(bytes, DEFAULT_MAX_PIXELS);
    case 'dicom':
    case 'nifti':
    case undefined:
      throw new Error(`expected a PNG, JPEG, TIFF or GIF image, found ${format ?? 'an unknown format'}`);
    default: {
      const never: never = format;
      throw new Error(`unhandled format ${String(never)}`);
    }
  }
}

/**
 * The single-channel label values of a decoded label image: grey as is; RGB accepted only when R = G = B
 * at every pixel. Throws with the first offending pixel otherwise.
 */
export function labelValues(raster: Raster): Uint8Array | Uint16Array {
  const n = raster.width * raster.height;
  if (raster.channels === 1) {
    if (raster.data instanceof Uint8Array || raster.data instanceof Uint16Array) return raster.data;
    throw new Error(`label samples must be 8- or 16-bit integers, got ${raster.data.constructor.name}`);
  }
  const out = raster.data instanceof Uint16Array ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = raster.data[i * 3];
    if (raster.data[i * 3 + 1] !== r || raster.data[i * 3 + 2] !== r) {
      throw new Error(
        `label is RGB with different channels at pixel (${i % raster.width}, ${Math.floor(i / raster.width)}); expected one grey value per class`,
      );
    }
    out[i] = r;
  }
  return out;
}

/** Known 2-D image file extensions. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.gif'];

/** The file name without its image extension, or undefined when it has none of {@link IMAGE_EXTENSIONS}. */
export function imageStem(file: string): string | undefined {
  const lower = file.toLowerCase();
  const ext = IMAGE_EXTENSIONS.find((e) => lower.endsWith(e));
  return ext === undefined ? undefined : file.slice(0, file.length - ext.length);
}

/** Objects grouped by image id, keeping their order. */
export function groupByImage<T extends { imageId: string }>(objects: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const o of objects) {
    const list = out.get(o.imageId);
    if (list) list.push(o);
    else out.set(o.imageId, [o]);
  }
  return out;
}
