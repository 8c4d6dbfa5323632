/** Binary masks as the core's numeric code uses them. */

/** A binary mask: `data[y * width + x]` is 1 inside, 0 outside (row-major). */
export interface BinaryMask {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A new all-zero mask of the given size (pixels). */
export function emptyMask(width: number, height: number): BinaryMask {
  return { width, height, data: new Uint8Array(width * height) };
}

/** Pixels set in a mask. */
export function maskArea(mask: BinaryMask): number {
  let n = 0;
  for (let i = 0; i < mask.data.length; i++) if (mask.data[i]) n++;
  return n;
}

/** Tight inclusive box `[x0, y0, x1, y1]` of a mask's foreground in pixels, or null when it is empty. */
export function maskBounds(mask: BinaryMask): [number, number, number, number] | null {
  const { width, height, data } = mask;
  let x0 = width;
  let y0 = -1;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let first = -1;
    let last = -1;
    for (let x = 0; x < width; x++) {
      if (data[row + x] !== 0) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first >= 0) {
      if (y0 < 0) y0 = y;
      y1 = y;
      if (first < x0) x0 = first;
      if (last > x1) x1 = last;
    }
  }
  return y0 < 0 ? null : [x0, y0, x1, y1];
}
