/** File helpers of the mask commands (rle, metrics, prompts): read label images as masks, write mask PNGs. */
import { readFile, writeFile } from 'node:fs/promises';
import type { BinaryMask } from '../core/mask.ts';
import type { Raster } from '../core/raster.ts';
import { decodeImage } from '../imaging/decode-image.ts';
import { encodePng } from '../imaging/encode-png.ts';
import { ImageError } from '../imaging/image-error.ts';
import { CliError } from './command.ts';

/** Reads and decodes an image file; missing files and undecodable bytes become CliError (exit 2). */
export async function readImageFile(path: string, what: string): Promise<Raster> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err: unknown) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `${what} file '${path}' does not exist`
        : `cannot read ${what} file '${path}': ${code ?? err}`,
    );
  }
  try {
    return decodeImage(bytes);
  } catch (err: unknown) {
    if (err instanceof ImageError) {
      throw new CliError(`${what} file '${path}' is not a readable image (PNG expected): ${err.message}`);
    }
    throw err;
  }
}

/**
 * A mask from a label image: pixels equal to `value` (all channels) when given, otherwise every nonzero
 * pixel (any channel).
 */
export function maskFromRaster(raster: Raster, value?: number): BinaryMask {
  const { width, height, channels, data } = raster;
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) {
    let inside: boolean;
    if (channels === 1) {
      inside = value === undefined ? data[i] !== 0 : data[i] === value;
    } else {
      const r = data[3 * i];
      const g = data[3 * i + 1];
      const b = data[3 * i + 2];
      inside =
        value === undefined ? r !== 0 || g !== 0 || b !== 0 : r === value && g === value && b === value;
    }
    out[i] = inside ? 1 : 0;
  }
  return { width, height, data: out };
}

/** Reads a label image and selects a mask from it (see maskFromRaster). */
export async function readMaskFile(path: string, what: string, value?: number): Promise<BinaryMask> {
  return maskFromRaster(await readImageFile(path, what), value);
}

/** Writes a mask as an 8-bit grey PNG, 0 outside and 255 inside. */
export async function writeMaskPng(path: string, mask: BinaryMask): Promise<void> {
  try {
    await writeFile(path, encodePng(mask));
  } catch (err: unknown) {
    throw new CliError(`cannot write '${path}': ${(err as NodeJS.ErrnoException).code ?? err}`, 1);
  }
}

/** Parses an optional `--value` flag: an integer sample value 0..65535. */
export function parseValue(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isInteger(v) || v < 0 || v > 65535) {
    throw new CliError(`--value must be an integer sample value 0..65535, got '${text}'`);
  }
  return v;
}
