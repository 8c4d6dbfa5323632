/**
 * The one-mask-per-structure layout (SAM-Med2D's data_demo): `images/<image>.png` and
 * `masks/<image>_<structure>_<k>.png` holding {0, 255}. Image names may contain underscores, so a mask is
 * matched to the image with the longest name that prefixes it followed by `_`. Each mask file is one object
 * of class `<structure>` (instance `k`); class values number the structures 1.. in sorted order.
 */
import { join } from 'node:path';
import type { BinaryMask } from '../../core/mask.ts';
import {
  MIN_OBJECT_PIXELS,
  type Dataset,
  type DatasetImage,
  type DatasetObject,
  type DatasetOptions,
  type DatasetProblem,
  type LoadedImage,
} from './dataset.ts';
import {
  assembleDataset,
  imageSizeOrProblem,
  isProblem,
  listImageFiles,
  objectMaskOrProblem,
} from './assemble.ts';
import { imageStem, labelValues, readRaster } from './read-raster.ts';

/** The image a mask file belongs to (longest prefix match) and its structure and instance, or a problem. */
export function matchMaskName(
  maskStem: string,
  imageIds: readonly string[],
): { imageId: string; structure: string; instance: string } | { problem: string } {
  let best: string | undefined;
  for (const id of imageIds) {
    if (maskStem.startsWith(`${id}_`) && (best === undefined || id.length > best.length)) best = id;
  }
  if (best === undefined) return { problem: 'no image whose name prefixes this mask name' };
  const rest = maskStem.slice(best.length + 1);
  const cut = rest.lastIndexOf('_');
  if (cut <= 0 || !/^\d+$/.test(rest.slice(cut + 1))) {
    return { problem: `expected <image>_<structure>_<k>, got structure part '${rest}'` };
  }
  return { imageId: best, structure: rest.slice(0, cut), instance: rest.slice(cut + 1) };
}

interface MaskEntry {
  object: DatasetObject;
  file: string;
}

/** Scans a one-mask-per-structure directory. Bad files land in `problems`, their images excluded. */
export async function loadPerStructureDataset(root: string, options: DatasetOptions): Promise<Dataset> {
  const imageFiles = await listImageFiles(join(root, 'images'));
  const maskFiles = await listImageFiles(join(root, 'masks'));
  const imageIds = imageFiles.map((f) => imageStem(f)!);
  const problems: DatasetProblem[] = [];
  const bad = new Set<string>();
  const masksByImage = new Map<string, Array<{ file: string; structure: string; instance: string }>>();
  for (const f of maskFiles) {
    const m = matchMaskName(imageStem(f)!, imageIds);
    if ('problem' in m) {
      problems.push({ file: `masks/${f}`, problem: m.problem });
      continue;
    }
    const list = masksByImage.get(m.imageId) ?? [];
    list.push({ file: f, structure: m.structure, instance: m.instance });
    masksByImage.set(m.imageId, list);
  }
  const structures = [...new Set([...masksByImage.values()].flat().map((m) => m.structure))].sort();
  const classValue = new Map(structures.map((s, i) => [s, i + 1]));
  const classMap: Record<number, string> = {};
  for (const [s, v] of classValue) classMap[v] = s;

  const images: DatasetImage[] = [];
  const entries: MaskEntry[] = [];
  const dropped: DatasetObject[] = [];
  for (const file of imageFiles) {
    const id = imageStem(file)!;
    const rel = `images/${file}`;
    const masks = masksByImage.get(id);
    if (masks === undefined) {
      problems.push({ file: rel, problem: `no mask: expected masks/${id}_<structure>_<k>.png` });
      bad.add(id);
      continue;
    }
    const size = await imageSizeOrProblem(root, rel);
    if (isProblem(size)) {
      problems.push(size);
      bad.add(id);
      continue;
    }
    const mine: MaskEntry[] = [];
    const mineDropped: DatasetObject[] = [];
    for (const m of masks) {
      const read = await objectMaskOrProblem(root, `masks/${m.file}`, size, (f) => readBinaryMask(root, f));
      if (isProblem(read)) {
        problems.push(read);
        bad.add(id);
        continue;
      }
      const pixels = read.pixels;
      const object: DatasetObject = {
        id: `${id}#${m.structure}_${m.instance}`,
        imageId: id,
        classValue: classValue.get(m.structure)!,
        className: m.structure,
        pixels,
      };
      if (pixels > MIN_OBJECT_PIXELS) mine.push({ object, file: m.file });
      else mineDropped.push(object);
    }
    if (bad.has(id)) continue;
    images.push({ id, file: rel, width: size.width, height: size.height });
    entries.push(...mine);
    dropped.push(...mineDropped);
  }

  const objects = entries.map((e) => e.object);
  const fileOf = new Map(entries.map((e) => [e.object.id, e.file]));
  const scan = { classMap, images, objects, dropped, problems, excluded: bad.size };
  return assembleDataset(root, options, { layout: 'per-structure', ...scan }, async (im, mine) => {
    const image = await readRaster(root, join(root, im.file));
    const out: LoadedImage['objects'] = [];
    for (const object of mine) {
      out.push({ object, mask: await readBinaryMask(root, join(root, 'masks', fileOf.get(object.id)!)) });
    }
    return { image, objects: out };
  });
}

/** Reads a {0, 255} mask file (any non-zero value counts as inside; other values than 0/255 are an error). */
async function readBinaryMask(root: string, file: string): Promise<BinaryMask> {
  const raster = await readRaster(root, file);
  const values = labelValues(raster);
  const data = new Uint8Array(values.length);
  const max = values instanceof Uint16Array ? 65535 : 255;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== 0 && v !== max) {
      throw new Error(
        `mask value ${v} at pixel ${i % raster.width},${Math.floor(i / raster.width)}: expected 0 or ${max}`,
      );
    }
    data[i] = v === 0 ? 0 : 1;
  }
  return { width: raster.width, height: raster.height, data };
}
