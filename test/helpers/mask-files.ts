/**
 * Synthetic mask files in the formats public datasets ship: GIF (DRIVE), lossy JPEG (Kvasir-SEG), written by
 * project code (omggif's writer, jpeg-js's encoder) so no real dataset file is needed.
 */
import jpeg from 'jpeg-js';
import { GifWriter } from 'omggif';
import type { BinaryMask } from '../../gateway/src/core/mask.ts';

/** A disc of radius `r` at (`cx`, `cy`) in a `width` x `height` mask. */
export function discMask(width: number, height: number, cx: number, cy: number, r: number): BinaryMask {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data[y * width + x] = (x - cx) ** 2 + (y - cy) ** 2 <= r * r ? 1 : 0;
  return { width, height, data };
}

/** The mask as a palette GIF (black and white, as DRIVE's manual segmentations are). */
export function maskGif(mask: BinaryMask): Uint8Array {
  const buf = new Uint8Array(1024 + mask.width * mask.height * 2);
  const writer = new GifWriter(buf, mask.width, mask.height, { palette: [0x000000, 0xffffff] });
  writer.addFrame(0, 0, mask.width, mask.height, mask.data);
  return buf.slice(0, writer.end());
}

/** The mask as a lossy JPEG of 0/255 (`quality` 1-100): the edges come back as many grey values. */
export function maskJpeg(mask: BinaryMask, quality = 75): Uint8Array {
  const rgba = new Uint8Array(mask.width * mask.height * 4);
  for (let i = 0; i < mask.data.length; i++) {
    const v = mask.data[i] ? 255 : 0;
    rgba.set([v, v, v, 255], 4 * i);
  }
  return new Uint8Array(jpeg.encode({ data: rgba, width: mask.width, height: mask.height }, quality).data);
}
