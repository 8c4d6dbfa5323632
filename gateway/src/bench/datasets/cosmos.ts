/**
 * The COSMOS 1050K layout: `images/<name>.png` and `labels/<name>.png` holding one grey value per class;
 * a class map (value to name) and the modality come from `dataset.json` or the caller. An object is every
 * pixel of one class value in one image; objects of 50 pixels or fewer are dropped.
 */
import { join } from 'node:path';
import { emptyMask } from '../../core/mask.ts';
import {
  DatasetError,
  objectsOfLabelImage,
  type Dataset,
  type DatasetImage,
  type DatasetObject,
  type DatasetOptions,
  type DatasetProblem,
} from './dataset.ts';
import { assembleDataset, imageSizeOrProblem, isProblem, listImageFiles } from './assemble.ts';
import { imageStem, labelValues, readRaster } from './read-raster.ts';

/** Scans a COSMOS-layout directory; needs a class map. Bad files land in `problems`, their images excluded. */
export async function loadCosmosDataset(
  root: string,
  options: DatasetOptions & { classMap: Record<number, string> },
): Promise<Dataset> {
  const classMap = options.classMap;
  if (Object.keys(classMap).length === 0) {
    throw new DatasetError('BAD_DATASET', `${root}: the COSMOS layout needs a class map (value -> name)`);
  }
  const imageFiles = await listImageFiles(join(root, 'images'));
  const labelFiles = await listImageFiles(join(root, 'labels'));
  const labelByStem = new Map(labelFiles.map((f) => [imageStem(f)!, f]));
  const problems: DatasetProblem[] = [];
  const images: DatasetImage[] = [];
  const objects: DatasetObject[] = [];
  const dropped: DatasetObject[] = [];
  const imageStems = new Set<string>();
  let excluded = 0;

  for (const file of imageFiles) {
    const id = imageStem(file)!;
    imageStems.add(id);
    const labelFile = labelByStem.get(id);
    const rel = `images/${file}`;
    if (labelFile === undefined) {
      problems.push({ file: rel, problem: `no label: expected labels/${id}.png` });
      excluded++;
      continue;
    }
    const relLabel = `labels/${labelFile}`;
    const size = await imageSizeOrProblem(root, rel);
    if (isProblem(size)) {
      problems.push(size);
      excluded++;
      continue;
    }
    let values: Uint8Array | Uint16Array;
    let lw: number;
    let lh: number;
    try {
      const label = await readRaster(root, join(root, relLabel));
      values = labelValues(label);
      lw = label.width;
      lh = label.height;
    } catch (err) {
      problems.push({ file: relLabel, problem: `unreadable label: ${(err as Error).message}` });
      excluded++;
      continue;
    }
    if (lw !== size.width || lh !== size.height) {
      problems.push({
        file: relLabel,
        problem: `label is ${lw}x${lh} but its image is ${size.width}x${size.height}`,
      });
      excluded++;
      continue;
    }
    const counts = new Map<number, number>();
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v !== 0) counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    const unknown = [...counts.keys()].filter((v) => classMap[v] === undefined).sort((a, b) => a - b);
    if (unknown.length > 0) {
      problems.push({
        file: relLabel,
        problem: `grey value(s) ${unknown.join(', ')} not in the class map (${Object.keys(classMap).join(', ')})`,
      });
      excluded++;
      continue;
    }
    images.push({ id, file: rel, width: size.width, height: size.height });
    objectsOfLabelImage(id, counts, (value) => classMap[value], { kept: objects, dropped });
  }
  for (const f of labelFiles) {
    if (!imageStems.has(imageStem(f)!))
      problems.push({ file: `labels/${f}`, problem: 'label without an image' });
  }

  const scan = { classMap, images, objects, dropped, problems, excluded };
  return assembleDataset(root, options, { layout: 'cosmos', ...scan }, async (im, mine) => {
    const image = await readRaster(root, join(root, im.file));
    const label = await readRaster(root, join(root, 'labels', labelByStem.get(im.id)!));
    const values = labelValues(label);
    const masks = new Map(mine.map((o) => [o.classValue, emptyMask(im.width, im.height)]));
    for (let i = 0; i < values.length; i++) {
      const m = masks.get(values[i]);
      if (m !== undefined) m.data[i] = 1;
    }
    return { image, objects: mine.map((o) => ({ object: o, mask: masks.get(o.classValue)! })) };
  });
}
