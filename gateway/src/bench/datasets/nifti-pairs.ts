/**
 * NIfTI image/label volume pairs as a 2-D benchmark dataset (the paper's 3-D handling): each pair is sliced
 * along one voxel axis, slices whose label has more than 50 foreground voxels are kept, and intensities are
 * clipped to the 0.5th-99.5th percentiles of the whole volume then min-max scaled to 0-255 (or put through
 * a VOI window). Pairs come from `pairs` in the options or dataset.json, from `images/` + `labels/` with
 * the same file name, or from `<name>.nii[.gz]` + `<name>_label|_seg|_gt.nii[.gz]` side by side.
 */
import { readdir } from 'node:fs/promises';
import { readDatasetFile } from './read-raster.ts';
import { join } from 'node:path';
import { emptyMask } from '../../core/mask.ts';
import type { Raster } from '../../core/raster.ts';
import { decodeNifti, sliceVolume, type NiftiVolume } from '../../imaging/nifti.ts';
import { applyRange, applyWindow, percentileRange } from '../../imaging/windowing.ts';
import {
  DatasetError,
  MIN_OBJECT_PIXELS,
  objectsOfLabelImage,
  parseClassMap,
  type Dataset,
  type DatasetImage,
  type DatasetObject,
  type DatasetOptions,
  type DatasetProblem,
} from './dataset.ts';
import { assembleDataset } from './assemble.ts';

/** Default intensity clipping percentiles (MedSAM's and the COSMOS scripts' 0.5-99.5). */
export const DEFAULT_PERCENTILES: [number, number] = [0.5, 99.5];

const NII = /\.nii(\.gz)?$/i;
const stemOf = (f: string): string => f.replace(NII, '');

/** Finds image/label pairs (see module doc), relative to the root. */
export async function findNiftiPairs(
  root: string,
  options: DatasetOptions,
): Promise<Array<{ image: string; label: string }>> {
  if (options.pairs !== undefined) return options.pairs;
  const ls = async (dir: string): Promise<string[]> => {
    try {
      return (await readdir(join(root, dir))).filter((n) => NII.test(n)).sort();
    } catch {
      return [];
    }
  };
  const images = await ls('images');
  if (images.length > 0) {
    const labels = new Map((await ls('labels')).map((f) => [stemOf(f), f]));
    return images.map((f) => ({
      image: `images/${f}`,
      label: labels.has(stemOf(f)) ? `labels/${labels.get(stemOf(f))}` : '',
    }));
  }
  const files = await ls('.');
  const isLabel = (f: string): boolean => /_(label|labels|seg|gt|mask)$/i.test(stemOf(f));
  const labels = files.filter(isLabel);
  return files
    .filter((f) => !isLabel(f))
    .map((f) => {
      const label = labels.find((l) => stemOf(l).replace(/_(label|labels|seg|gt|mask)$/i, '') === stemOf(f));
      return { image: f, label: label ?? '' };
    });
}

interface SliceRef {
  image: DatasetImage;
  pair: { image: string; label: string };
  index: number;
}

/** Scans NIfTI pairs into per-slice images and objects. Bad pairs land in `problems`. */
export async function loadNiftiDataset(root: string, options: DatasetOptions): Promise<Dataset> {
  const axis = options.axis ?? 2;
  if (axis !== 0 && axis !== 1 && axis !== 2) {
    throw new DatasetError('BAD_DATASET', `NIfTI slicing axis must be 0, 1 or 2, got ${String(axis)}`);
  }
  const percentiles = options.percentiles ?? DEFAULT_PERCENTILES;
  const classMap = options.classes ? parseClassMap(options.classes, root) : undefined;
  const pairs = await findNiftiPairs(root, options);
  if (pairs.length === 0) throw new DatasetError('BAD_DATASET', `${root}: no NIfTI image volumes found`);
  const problems: DatasetProblem[] = [];
  const images: DatasetImage[] = [];
  const objects: DatasetObject[] = [];
  const dropped: DatasetObject[] = [];
  const slices = new Map<string, SliceRef>();
  const names: Record<number, string> = { ...(classMap ?? {}) };
  let excluded = 0;

  for (const pair of pairs) {
    if (pair.label === '') {
      problems.push({ file: pair.image, problem: 'no label volume found for this image' });
      excluded++;
      continue;
    }
    let imageVol: NiftiVolume;
    let labelVol: NiftiVolume;
    try {
      imageVol = decodeNifti(await readDatasetFile(root, join(root, pair.image)));
    } catch (err) {
      problems.push({ file: pair.image, problem: `unreadable image volume: ${(err as Error).message}` });
      excluded++;
      continue;
    }
    try {
      labelVol = decodeNifti(await readDatasetFile(root, join(root, pair.label)));
    } catch (err) {
      problems.push({ file: pair.label, problem: `unreadable label volume: ${(err as Error).message}` });
      excluded++;
      continue;
    }
    if (imageVol.dims.join('x') !== labelVol.dims.join('x')) {
      problems.push({
        file: pair.label,
        problem: `label volume is ${labelVol.dims.join('x')} but its image is ${imageVol.dims.join('x')}`,
      });
      excluded++;
      continue;
    }
    const bad = checkLabelValues(labelVol.data, classMap);
    if (bad !== null) {
      problems.push({ file: pair.label, problem: bad });
      excluded++;
      continue;
    }
    const n = labelVol.dims[axis];
    const stem = stemOf(pair.image.split('/').pop()!);
    for (let index = 0; index < n; index++) {
      const label = sliceVolume(labelVol, axis, index).raster;
      const counts = new Map<number, number>();
      let fg = 0;
      for (let i = 0; i < label.data.length; i++) {
        const v = label.data[i];
        if (v !== 0) {
          counts.set(v, (counts.get(v) ?? 0) + 1);
          fg++;
        }
      }
      if (fg <= MIN_OBJECT_PIXELS) continue;
      const id = `${stem}@${axis}:${index}`;
      const image: DatasetImage = {
        id,
        file: `${pair.image}@${axis}:${index}`,
        width: label.width,
        height: label.height,
      };
      images.push(image);
      slices.set(id, { image, pair, index });
      objectsOfLabelImage(id, counts, (value) => (names[value] ??= `label ${value}`), {
        kept: objects,
        dropped,
      });
    }
  }

  // Slices of one volume are loaded one after another: keep the last decoded pair and its intensity range.
  let cache: { pair: string; image: NiftiVolume; label: NiftiVolume; range: [number, number] } | undefined;
  const volumes = async (pair: { image: string; label: string }): Promise<NonNullable<typeof cache>> => {
    if (cache?.pair === pair.image) return cache;
    const image = decodeNifti(await readDatasetFile(root, join(root, pair.image)));
    const label = decodeNifti(await readDatasetFile(root, join(root, pair.label)));
    const range = options.window
      ? ([0, 0] as [number, number])
      : percentileRange(image.data, percentiles[0], percentiles[1]);
    cache = { pair: pair.image, image, label, range };
    return cache;
  };

  const scan = { classMap: names, images, objects, dropped, problems, excluded };
  return assembleDataset(
    root,
    options,
    { layout: 'nifti', ...scan, options: { ...options, axis, percentiles } },
    async (im, mine) => {
      const ref = slices.get(im.id)!;
      const vols = await volumes(ref.pair);
      const raw = sliceVolume(vols.image, axis, ref.index).raster;
      const grey = options.window
        ? applyWindow(raw.data, options.window)
        : applyRange(raw.data, vols.range[0], vols.range[1]);
      const image: Raster = {
        width: raw.width,
        height: raw.height,
        channels: 1,
        data: grey,
        spacing: raw.spacing,
      };
      const label = sliceVolume(vols.label, axis, ref.index).raster;
      const masks = new Map(mine.map((o) => [o.classValue, emptyMask(raw.width, raw.height)]));
      for (let i = 0; i < label.data.length; i++) {
        const m = masks.get(label.data[i]);
        if (m !== undefined) m.data[i] = 1;
      }
      return { image, objects: mine.map((o) => ({ object: o, mask: masks.get(o.classValue)! })) };
    },
  );
}

/** Null when every label value is a non-negative integer in the class map (when one is given), else why not. */
function checkLabelValues(
  data: ArrayLike<number>,
  classMap: Record<number, string> | undefined,
): string | null {
  const seen = new Set<number>();
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v === 0 || seen.has(v)) continue;
    if (!Number.isInteger(v) || v < 0) return `label value ${v} is not a non-negative integer`;
    seen.add(v);
  }
  if (classMap !== undefined) {
    const unknown = [...seen].filter((v) => classMap[v] === undefined).sort((a, b) => a - b);
    if (unknown.length > 0) return `label value(s) ${unknown.join(', ')} not in the class map`;
  }
  return null;
}
