/**
 * Mask overlays: the object palette, RLE masks painted into one RGBA layer at image resolution (filled at
 * partial opacity with an opaque outline), and the WCAG contrast figures the accessibility test checks.
 */
import { decodeRle } from '../../gateway/src/core/rle.ts';
import type { BinaryMask } from '../../gateway/src/core/mask.ts';

/** Object colours as [r, g, b]: bright hues that stand out on dark medical images and from each other. */
export const PALETTE: ReadonlyArray<readonly [number, number, number]> = [
  [255, 215, 0], // gold
  [0, 229, 255], // cyan
  [255, 64, 129], // pink
  [118, 255, 3], // lime
  [255, 145, 0], // orange
  [213, 128, 255], // violet
  [255, 255, 255], // white
  [100, 181, 246], // sky
];

/** Fill opacity (0-255) of mask interiors; outlines are opaque. */
export const FILL_ALPHA = 110;

/** A CSS colour string of a palette entry. */
export function cssColour(index: number): string {
  const [r, g, b] = PALETTE[index % PALETTE.length];
  return `rgb(${r}, ${g}, ${b})`;
}

/** The RLE form the API returns. */
export interface RleJson {
  size: number[];
  counts: string;
}

/** Decodes an API RLE to a row-major mask. */
export function decodeMask(rle: RleJson): BinaryMask {
  return decodeRle({ size: [rle.size[0], rle.size[1]], counts: rle.counts });
}

/** One mask to paint with its palette index. */
export interface PaintedMask {
  mask: BinaryMask;
  colour: number;
}

/**
 * Paints masks into an RGBA buffer of `width` x `height`: every mask pixel gets its colour (later masks on
 * top), interior at FILL_ALPHA, pixels on the mask's edge fully opaque. Pixels outside every mask stay 0.
 */
export function paintMasks(
  width: number,
  height: number,
  masks: readonly PaintedMask[],
): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(width * height * 4);
  for (const { mask, colour } of masks) {
    if (mask.width !== width || mask.height !== height) continue;
    const [r, g, b] = PALETTE[colour % PALETTE.length];
    const d = mask.data;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        if (!d[i]) continue;
        const edge =
          x === 0 ||
          y === 0 ||
          x === width - 1 ||
          y === height - 1 ||
          !d[i - 1] ||
          !d[i + 1] ||
          !d[i - width] ||
          !d[i + width];
        const o = i * 4;
        out[o] = r;
        out[o + 1] = g;
        out[o + 2] = b;
        out[o + 3] = edge ? 255 : FILL_ALPHA;
      }
    }
  }
  return out;
}

/** WCAG 2 relative luminance of an sRGB colour (0-255 channels). */
export function luminance([r, g, b]: readonly [number, number, number]): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** WCAG 2 contrast ratio (1 to 21) of two colours. */
export function contrastRatio(
  a: readonly [number, number, number],
  b: readonly [number, number, number],
): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
