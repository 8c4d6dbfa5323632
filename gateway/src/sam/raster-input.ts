/** Raster conversions every profile's preprocessing starts from. */
import type { Raster } from '../core/raster.ts';

/** Scales any raster to 8-bit (0-255) as SAM expects: 8-bit passes through, others are min-max scaled. */
export function toUint8(raster: Raster): Raster {
  if (raster.data instanceof Uint8Array) return raster;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of raster.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi > lo ? hi - lo : 1;
  const out = new Uint8Array(raster.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(((raster.data[i] - lo) / range) * 255);
  return { ...raster, data: out };
}
