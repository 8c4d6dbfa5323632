/** Decoded images (rasters) as every layer passes them around. */

/** Sample storage: 8-bit, 16-bit or float samples. */
export type RasterData = Uint8Array | Uint16Array | Int16Array | Float32Array;

/**
 * A decoded image: `channels` interleaved samples per pixel, row-major
 * (`data[(y * width + x) * channels + c]`). `channels` is 1 (grey) or 3 (RGB).
 * Optional physical pixel spacing in millimetres, [row spacing sy, column spacing sx].
 */
export interface Raster {
  width: number;
  height: number;
  channels: 1 | 3;
  data: RasterData;
  spacing?: [number, number];
}
