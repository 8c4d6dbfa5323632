/** File helpers of the mask commands (rle, metrics, prompts): read label images as masks, write mask PNGs. */
import { readFile, writeFile } from 'node:fs/promises';
import type { BinaryMask } from '../core/mask.ts';
import type { Raster } from '../core/raster.ts';
import { encodePng } from '../imaging/encode-png.ts';
import { ImageError } from '../imaging/image-error.ts';
import {
  decodeMaskImage,
  MaskFormatError,
  maskFromImage,
  parseThreshold,
  type MaskRule,
} from '../imaging/mask-image.ts';
import { CliError } from './command.ts';

/** Reads and decodes an image file (GIF too); missing files and undecodable bytes become CliError (exit 2). */
export async function readImageFile(
  path: string,
  what: string,
): Promise<{ raster: Raster; bytes: Uint8Array }> {
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
    return { raster: decodeMaskImage(bytes), bytes };
  } catch (err: unknown) {
    if (err instanceof ImageError) {
      throw new CliError(
        `${what} file '${path}' is not a readable image (PNG, GIF, JPEG or TIFF expected): ${err.message}`,
      );
    }
    throw err;
  }
}

/**
 * Reads a mask file by `rule` (see imaging/mask-image.ts): `--value V` picks one label, `--threshold T` reads
 * a greyscale or lossy (JPEG) mask, and with neither the file must be a binary mask.
 */
export async function readMaskFile(path: string, what: string, rule: MaskRule = {}): Promise<BinaryMask> {
  const { raster, bytes } = await readImageFile(path, what);
  try {
    return maskFromImage(raster, rule, bytes);
  } catch (err: unknown) {
    if (err instanceof MaskFormatError) {
      throw new CliError(
        `${what} file '${path}' is ${err.message.replace(/a label value/, '--value V').replace(/a threshold/g, '--threshold T')}`,
      );
    }
    throw err;
  }
}

/** The mask rule of the `--value` and `--threshold` flags (at most one of them). */
export function maskRule(values: { value?: string; threshold?: string }): MaskRule {
  if (values.value !== undefined && values.threshold !== undefined)
    throw new CliError('give --value or --threshold, not both');
  if (values.threshold !== undefined) {
    try {
      return { threshold: parseThreshold(values.threshold) };
    } catch (err: unknown) {
      throw new CliError(`--threshold: ${(err as Error).message}`);
    }
  }
  return { value: parseValue(values.value) };
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
