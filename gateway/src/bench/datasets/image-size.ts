/** Image dimensions of a dataset file, from the PNG header when possible (no pixel inflation). */
import { open } from 'node:fs/promises';
import { readPngHeader } from '../../imaging/decode-png.ts';
import { readRaster } from './read-raster.ts';

/** Width and height in pixels of a PNG (header only), JPEG or TIFF (decoded) file. */
export async function imageSize(file: string): Promise<{ width: number; height: number }> {
  const fh = await open(file, 'r');
  let head: Uint8Array;
  try {
    const buf = Buffer.alloc(33);
    const { bytesRead } = await fh.read(buf, 0, 33, 0);
    head = new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
  } finally {
    await fh.close();
  }
  if (head.length >= 8 && head[0] === 0x89 && head[1] === 0x50) {
    const h = readPngHeader(head);
    return { width: h.width, height: h.height };
  }
  const r = await readRaster(file);
  return { width: r.width, height: r.height };
}
