/**
 * What every dataset loader shares: listing a folder's image files, reading an image's size and an object
 * mask with each failure recorded as a per-file problem, and assembling the scanned images and objects into
 * a {@link Dataset} whose `loadImage` finds an image by id.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BinaryMask } from '../../core/mask.ts';
import {
  datasetName,
  datasetStats,
  DatasetError,
  type Dataset,
  type DatasetImage,
  type DatasetLayout,
  type DatasetObject,
  type DatasetOptions,
  type DatasetProblem,
  type LoadedImage,
} from './dataset.ts';
import { imageSize } from './image-size.ts';
import { groupByImage, imageStem } from './read-raster.ts';

/** The image files of `dir` (names with an image extension), sorted; DatasetError NOT_FOUND without it. */
export async function listImageFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new DatasetError('NOT_FOUND', `expected a directory ${dir}`);
  }
  return names.filter((n) => imageStem(n) !== undefined).sort();
}

/** The size in pixels of the image `rel` (relative to `root`), or the problem that it is unreadable. */
export async function imageSizeOrProblem(
  root: string,
  rel: string,
): Promise<{ width: number; height: number } | DatasetProblem> {
  try {
    return await imageSize(root, join(root, rel));
  } catch (err) {
    return { file: rel, problem: `unreadable image: ${(err as Error).message}` };
  }
}

/**
 * Reads the object mask `rel` (relative to `root`) with `read` and counts its pixels; the problem instead
 * when it cannot be read or its size is not its image's.
 */
export async function objectMaskOrProblem(
  root: string,
  rel: string,
  size: { width: number; height: number },
  read: (file: string) => Promise<BinaryMask>,
): Promise<{ mask: BinaryMask; pixels: number } | DatasetProblem> {
  let mask: BinaryMask;
  try {
    mask = await read(join(root, rel));
  } catch (err) {
    return { file: rel, problem: (err as Error).message };
  }
  if (mask.width !== size.width || mask.height !== size.height) {
    return {
      file: rel,
      problem: `mask is ${mask.width}x${mask.height} but its image is ${size.width}x${size.height}`,
    };
  }
  let pixels = 0;
  for (let i = 0; i < mask.data.length; i++) pixels += mask.data[i];
  return { mask, pixels };
}

/** True when a scan step returned a problem rather than its value. */
export function isProblem<T extends object>(value: T | DatasetProblem): value is DatasetProblem {
  return 'problem' in value;
}

/** What a loader scanned. */
export interface ScannedDataset {
  layout: DatasetLayout;
  classMap: Record<number, string>;
  images: DatasetImage[];
  /** Kept objects, in dataset order. */
  objects: DatasetObject[];
  /** Objects dropped for having too few pixels. */
  dropped: DatasetObject[];
  problems: DatasetProblem[];
  /** Images excluded because of problems. */
  excluded: number;
  /** The options as the dataset reports them (default: those it was loaded with). */
  options?: DatasetOptions;
}

/**
 * The Dataset of a scan: name and modality from the options, statistics from the objects, and a `loadImage`
 * that finds the image by id (DatasetError NOT_FOUND for another id) and hands `load` the image with its
 * kept objects in dataset order.
 */
export function assembleDataset(
  root: string,
  options: DatasetOptions,
  scan: ScannedDataset,
  load: (image: DatasetImage, objects: DatasetObject[]) => Promise<LoadedImage>,
): Dataset {
  const modality = options.modality ?? 'unknown';
  const byImage = new Map(scan.images.map((im) => [im.id, im]));
  const objectsByImage = groupByImage(scan.objects);
  return {
    name: datasetName(root, options),
    root,
    layout: scan.layout,
    modality,
    classMap: scan.classMap,
    images: scan.images,
    objects: scan.objects,
    problems: scan.problems,
    stats: datasetStats(scan.images, scan.objects, scan.dropped, modality, scan.excluded),
    options: scan.options ?? options,
    async loadImage(imageId: string): Promise<LoadedImage> {
      const im = byImage.get(imageId);
      if (im === undefined)
        throw new DatasetError('NOT_FOUND', `image '${imageId}' is not in dataset ${root}`);
      return load(im, objectsByImage.get(imageId) ?? []);
    },
  };
}
