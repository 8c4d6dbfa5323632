/**
 * The one-mask-per-structure layout (SAM-Med2D's data_demo): `images/<image>.png` and
 * `masks/<image>_<structure>_<k>.png` holding {0, 255}. Image names may contain underscores, so a mask is
 * matched to the image with the longest name that prefixes it followed by `_`. Each mask file is one object
 * of class `<structure>` (instance `k`); class values number the structures 1.. in sorted order.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BinaryMask } from '../../core/mask.ts';
import {
  datasetName,
  datasetStats,
  DatasetError,
  MIN_OBJECT_PIXELS,
  type Dataset,
  type DatasetImage,
  type DatasetObject,
  type DatasetOptions,
  type DatasetProblem,
  type LoadedImage,
} from './dataset.ts';
import { imageSize } from './image-size.ts';
import { groupByImage, imageStem, labelValues, readRaster } from './read-raster.ts';

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
  const imageFiles = await list(join(root, 'images'));
  const maskFiles = await list(join(root, 'masks'));
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
    let size: { width: number; height: number };
    try {
      size = await imageSize(root, join(root, rel));
    } catch (err) {
      problems.push({ file: rel, problem: `unreadable image: ${(err as Error).message}` });
      bad.add(id);
      continue;
    }
    const mine: MaskEntry[] = [];
    const mineDropped: DatasetObject[] = [];
    for (const m of masks) {
      const relMask = `masks/${m.file}`;
      let mask: BinaryMask;
      try {
        mask = await readBinaryMask(root, join(root, relMask));
      } catch (err) {
        problems.push({ file: relMask, problem: (err as Error).message });
        bad.add(id);
        continue;
      }
      if (mask.width !== size.width || mask.height !== size.height) {
        problems.push({
          file: relMask,
          problem: `mask is ${mask.width}x${mask.height} but its image is ${size.width}x${size.height}`,
        });
        bad.add(id);
        continue;
      }
      let pixels = 0;
      for (let i = 0; i < mask.data.length; i++) pixels += mask.data[i];
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

  const modality = options.modality ?? 'unknown';
  const objects = entries.map((e) => e.object);
  const fileOf = new Map(entries.map((e) => [e.object.id, e.file]));
  const byImage = new Map(images.map((im) => [im.id, im]));
  const objectsByImage = groupByImage(objects);
  return {
    name: datasetName(root, options),
    root,
    layout: 'per-structure',
    modality,
    classMap,
    images,
    objects,
    problems,
    stats: datasetStats(images, objects, dropped, modality, bad.size),
    options,
    async loadImage(imageId: string): Promise<LoadedImage> {
      const im = byImage.get(imageId);
      if (im === undefined)
        throw new DatasetError('NOT_FOUND', `image '${imageId}' is not in dataset ${root}`);
      const image = await readRaster(root, join(root, im.file));
      const out: LoadedImage['objects'] = [];
      for (const object of objectsByImage.get(imageId) ?? []) {
        out.push({ object, mask: await readBinaryMask(root, join(root, 'masks', fileOf.get(object.id)!)) });
      }
      return { image, objects: out };
    },
  };
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

async function list(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new DatasetError('NOT_FOUND', `expected a directory ${dir}`);
  }
  return names.filter((n) => imageStem(n) !== undefined).sort();
}
