/**
 * A benchmark dataset as the runner sees it: images, the objects in them (one class in one image, more than
 * 50 pixels, as COSMOS 1050K defines them), per-file problems found while scanning, and lazy loading of an
 * image with its object masks.
 */
import type { BinaryMask } from '../../core/mask.ts';
import type { Raster } from '../../core/raster.ts';

/** Directory layouts the loaders understand. */
export type DatasetLayout = 'cosmos' | 'per-structure' | 'images-masks' | 'nifti';

/** Objects with this many pixels or fewer are dropped (the paper's rule). */
export const MIN_OBJECT_PIXELS = 50;

/**
 * The objects of one label image: one per class value present (pixel counts by value), in value order, split
 * into those kept and those dropped for having {@link MIN_OBJECT_PIXELS} pixels or fewer.
 */
export function objectsOfLabelImage(
  imageId: string,
  counts: Map<number, number>,
  className: (value: number) => string,
  into: { kept: DatasetObject[]; dropped: DatasetObject[] },
): void {
  for (const [value, pixels] of [...counts].sort((a, b) => a[0] - b[0])) {
    const obj: DatasetObject = {
      id: `${imageId}#${value}`,
      imageId,
      classValue: value,
      className: className(value),
      pixels,
    };
    (pixels > MIN_OBJECT_PIXELS ? into.kept : into.dropped).push(obj);
  }
}

/** A dataset's display name: the given one, else the directory's last path component. */
export function datasetName(root: string, options: { name?: string }): string {
  return options.name ?? root.split(/[\\/]/).filter(Boolean).pop() ?? root;
}

/** A problem found in one file; the image it concerns is excluded from the dataset. */
export interface DatasetProblem {
  /** Path relative to the dataset root. */
  file: string;
  problem: string;
}

/** One object: all pixels of one class (or one structure mask) in one image. */
export interface DatasetObject {
  /** Unique in the dataset: `<imageId>#<class value>` or `<imageId>#<structure>_<k>`. */
  id: string;
  imageId: string;
  classValue: number;
  className: string;
  /** Object area in pixels. */
  pixels: number;
}

/** One image of the dataset. */
export interface DatasetImage {
  id: string;
  /** Image file relative to the dataset root (for NIfTI: `<volume>@<axis>:<slice>`). */
  file: string;
  width: number;
  height: number;
}

/** An image with its object masks, ready for the runner. */
export interface LoadedImage {
  image: Raster;
  objects: Array<{ object: DatasetObject; mask: BinaryMask }>;
}

/** Dataset statistics reported at registration. */
export interface DatasetStats {
  images: number;
  objects: number;
  modality: string;
  /** Kept objects per class name. */
  objectsPerClass: Record<string, number>;
  /** Objects of 50 pixels or fewer that were dropped, per class name. */
  droppedSmallPerClass: Record<string, number>;
  /** Images excluded because of problems. */
  excludedImages: number;
}

/** A scanned dataset. */
export interface Dataset {
  name: string;
  root: string;
  layout: DatasetLayout;
  modality: string;
  /** Class value to name. */
  classMap: Record<number, string>;
  images: DatasetImage[];
  objects: DatasetObject[];
  problems: DatasetProblem[];
  stats: DatasetStats;
  /** The options the dataset was loaded with (merged from dataset.json and the caller). */
  options: DatasetOptions;
  /** Decodes an image and builds its objects' masks. */
  loadImage(imageId: string): Promise<LoadedImage>;
}

/** Options of a dataset; anything not given is read from `<root>/dataset.json`. */
export interface DatasetOptions {
  name?: string;
  layout?: DatasetLayout;
  modality?: string;
  /** Grey value to class name (COSMOS layout); keys may be strings as JSON has them. */
  classes?: Record<string, string>;
  /** NIfTI: slicing axis 0 (x), 1 (y) or 2 (z, default). */
  axis?: 0 | 1 | 2;
  /** NIfTI: a VOI window instead of percentile clipping. */
  window?: { center: number; width: number };
  /** NIfTI: clip percentiles before min-max scaling (default [0.5, 99.5]). */
  percentiles?: [number, number];
  /** images-masks: grey value above which a mask pixel is inside, for lossy (JPEG) or greyscale masks. */
  maskThreshold?: number;
  /** NIfTI: explicit image/label pairs relative to the root. */
  pairs?: Array<{ image: string; label: string }>;
}

/** Bad dataset input (missing directory, malformed dataset.json, no class map...). */
export class DatasetError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'BAD_DATASET' | 'EXISTS',
    message: string,
  ) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** Computes the statistics of scanned objects. */
export function datasetStats(
  images: DatasetImage[],
  objects: DatasetObject[],
  dropped: DatasetObject[],
  modality: string,
  excludedImages: number,
): DatasetStats {
  const objectsPerClass: Record<string, number> = {};
  for (const o of objects) objectsPerClass[o.className] = (objectsPerClass[o.className] ?? 0) + 1;
  const droppedSmallPerClass: Record<string, number> = {};
  for (const o of dropped) droppedSmallPerClass[o.className] = (droppedSmallPerClass[o.className] ?? 0) + 1;
  return {
    images: images.length,
    objects: objects.length,
    modality,
    objectsPerClass,
    droppedSmallPerClass,
    excludedImages,
  };
}

/** Parses a class map given as `{ "85": "LV" }`, checking keys are integers 1..65535. */
export function parseClassMap(classes: Record<string, string>, where: string): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [k, v] of Object.entries(classes)) {
    const value = Number(k);
    if (!Number.isInteger(value) || value < 1 || value > 65535) {
      throw new DatasetError('BAD_DATASET', `${where}: class value '${k}' is not an integer in 1..65535`);
    }
    if (typeof v !== 'string' || v.length === 0) {
      throw new DatasetError(
        'BAD_DATASET',
        `${where}: class ${k} needs a non-empty name, got ${JSON.stringify(v)}`,
      );
    }
    out[value] = v;
  }
  return out;
}
