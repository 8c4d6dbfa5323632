/** Image dimensions of a dataset file, from the PNG header when possible (no pixel inflation). */
import { readPngHeader } from '../../imaging/decode-png.ts';
import { readDatasetFile, readRaster } from './read-raster.ts';

/** Width and height in pixels of a PNG (header only), JPEG or TIFF (decoded) file. */
export async function imageSize(root: string, file: string): Promise<{ width: number; height: number }> {
  const bytes = await readDatasetFile(root, file);
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50) {
    const h = readPngHeader(bytes);
    return { width: h.width, height: h.height };
  }
  const r = await readRaster(root, file);
  return { width: r.width, height: r.height };
}
