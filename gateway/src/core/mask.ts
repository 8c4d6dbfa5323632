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

/** A tight inclusive box `[x0, y0, x1, y1]` in pixels. */
export type PixelBox = [number, number, number, number];

/**
 * Tight inclusive box and count of the pixels set in `a` or, given `b` (of `a`'s size), of the pixels where
 * `a` and `b` disagree (one inside, the other outside); null when there is no such pixel. Any non-zero value
 * counts as inside.
 */
export function pixelBounds(a: BinaryMask, b?: BinaryMask): { box: PixelBox; count: number } | null {
  const W = a.width;
  const da = a.data;
  const db = b?.data;
  const n = da.length;
  let x0 = W;
  let y0 = -1;
  let x1 = -1;
  let y1 = -1;
  let count = 0;
  const visit = (i: number): void => {
    if ((da[i] === 0) === (db === undefined || db[i] === 0)) return;
    const y = (i / W) | 0;
    const x = i - y * W;
    count++;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y0 < 0) y0 = y;
    y1 = y;
  };
  let i = 0;
  if (da.byteOffset % 4 === 0 && (db === undefined || db.byteOffset % 4 === 0)) {
    // Objects are small against the image, and two masks mostly agree: a 32-bit word equal to the other
    // mask's (or to 0) holds no pixel to visit, so four pixels are skipped at once.
    const wa = new Uint32Array(da.buffer, da.byteOffset, n >> 2);
    const wb = db === undefined ? undefined : new Uint32Array(db.buffer, db.byteOffset, n >> 2);
    for (let k = 0; k < wa.length; k++) {
      if (wa[k] === (wb === undefined ? 0 : wb[k])) continue;
      const base = k << 2;
      visit(base);
      visit(base + 1);
      visit(base + 2);
      visit(base + 3);
    }
    i = wa.length << 2;
  }
  for (; i < n; i++) visit(i);
  return count === 0 ? null : { box: [x0, y0, x1, y1], count };
}

/** Tight inclusive box `[x0, y0, x1, y1]` of a mask's foreground in pixels, or null when it is empty. */
export function maskBounds(mask: BinaryMask): PixelBox | null {
  return pixelBounds(mask)?.box ?? null;
}
