/**
 * Mask borders as DESIGN.md defines them for the surface metrics: `mask XOR erode(mask)` with the
 * 4-connected cross as structuring element, where pixels outside the image count as background. A border
 * pixel is therefore an inside pixel with at least one 4-neighbour outside the mask or outside the image.
 */
import type { BinaryMask } from './mask.ts';

/** The border of a mask (same size, 1 on border pixels). */
export function maskBorder(mask: BinaryMask): BinaryMask {
  const { width, height } = mask;
  const out = new Uint8Array(width * height);
  borderOfCrop(mask.data, width, height, 0, 0, width, height, out);
  return { width, height, data: out };
}

/**
 * Writes the border of the part of a mask inside the crop [x0, x0 + cw) x [y0, y0 + ch) into `out`
 * (cw x ch, row-major) and returns the number of border pixels. Neighbours outside the crop are treated as
 * background, which is exact when the crop contains the mask's bounding box (then they are outside the mask).
 */
export function borderOfCrop(
  data: Uint8Array,
  width: number,
  height: number,
  x0: number,
  y0: number,
  cw: number,
  ch: number,
  out: Uint8Array,
): number {
  let count = 0;
  for (let cy = 0; cy < ch; cy++) {
    const y = y0 + cy;
    const row = y * width;
    const up = y > 0 && cy > 0 ? row - width : -1;
    const down = y < height - 1 && cy < ch - 1 ? row + width : -1;
    const orow = cy * cw;
    for (let cx = 0; cx < cw; cx++) {
      const x = x0 + cx;
      const i = row + x;
      if (data[i] === 0) {
        out[orow + cx] = 0;
        continue;
      }
      const interior =
        cx > 0 &&
        cx < cw - 1 &&
        data[i - 1] !== 0 &&
        data[i + 1] !== 0 &&
        up >= 0 &&
        down >= 0 &&
        data[up + x] !== 0 &&
        data[down + x] !== 0;
      if (interior) {
        out[orow + cx] = 0;
      } else {
        out[orow + cx] = 1;
        count++;
      }
    }
  }
  return count;
}
