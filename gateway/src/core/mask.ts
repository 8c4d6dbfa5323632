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
