/**
 * Opens a benchmark dataset directory in any supported layout: options from the caller override
 * `<root>/dataset.json`; the layout is detected from the sub-directories when not given
 * (`labels/` COSMOS; `masks/` named like the images: image/mask pairs, else one mask per structure; NIfTI
 * files otherwise).
 */
import { readdir, stat } from 'node:fs/promises';
import { readDatasetFile } from './read-raster.ts';
import { join } from 'node:path';
import { loadCosmosDataset } from './cosmos.ts';
import {
  DatasetError,
  parseClassMap,
  type Dataset,
  type DatasetLayout,
  type DatasetOptions,
} from './dataset.ts';
import { loadImagesMasksDataset, looksLikeImagesMasks } from './images-masks.ts';
import { loadPerStructureDataset } from './per-structure.ts';

/** Scans the dataset at `root` (see module doc). Throws DatasetError for a missing or unusable directory. */
export async function loadDataset(root: string, options: DatasetOptions = {}): Promise<Dataset> {
  let st;
  try {
    st = await stat(root);
  } catch {
    throw new DatasetError('NOT_FOUND', `dataset directory ${root} does not exist`);
  }
  if (!st.isDirectory()) throw new DatasetError('NOT_FOUND', `dataset path ${root} is not a directory`);
  const merged: DatasetOptions = { ...(await readDatasetJson(root)), ...stripUndefined(options) };
  const layout = merged.layout ?? (await detectLayout(root));
  switch (layout) {
    case 'cosmos': {
      if (merged.classes === undefined) {
        throw new DatasetError(
          'BAD_DATASET',
          `${root}: the COSMOS layout needs a class map, in dataset.json ("classes": {"85": "LV"}) or the options`,
        );
      }
      return loadCosmosDataset(root, { ...merged, classMap: parseClassMap(merged.classes, root) });
    }
    case 'per-structure':
      return loadPerStructureDataset(root, merged);
    case 'images-masks':
      return loadImagesMasksDataset(root, merged);
    case 'nifti': {
      const { loadNiftiDataset } = await import('./nifti-pairs.ts');
      return loadNiftiDataset(root, merged);
    }
    default: {
      const never: never = layout;
      throw new DatasetError('BAD_DATASET', `unknown layout ${String(never)}`);
    }
  }
}

const LAYOUTS: readonly DatasetLayout[] = ['cosmos', 'per-structure', 'images-masks', 'nifti'];

async function readDatasetJson(root: string): Promise<DatasetOptions> {
  let text: string;
  try {
    text = Buffer.from(await readDatasetFile(root, join(root, 'dataset.json'))).toString('utf8');
  } catch {
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DatasetError(
      'BAD_DATASET',
      `${root}/dataset.json is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DatasetError('BAD_DATASET', `${root}/dataset.json must hold an object, got ${typeof parsed}`);
  }
  const o = parsed as Record<string, unknown>;
  if (o.layout !== undefined && !LAYOUTS.includes(o.layout as DatasetLayout)) {
    throw new DatasetError(
      'BAD_DATASET',
      `dataset.json: layout must be one of ${LAYOUTS.join(', ')}, got ${String(o.layout)}`,
    );
  }
  if (o.modality !== undefined && typeof o.modality !== 'string') {
    throw new DatasetError(
      'BAD_DATASET',
      `dataset.json: modality must be a string, got ${typeof o.modality}`,
    );
  }
  if (
    o.classes !== undefined &&
    (typeof o.classes !== 'object' || o.classes === null || Array.isArray(o.classes))
  ) {
    throw new DatasetError(
      'BAD_DATASET',
      'dataset.json: classes must be an object {"<grey value>": "<name>"}',
    );
  }
  if (
    o.maskThreshold !== undefined &&
    (typeof o.maskThreshold !== 'number' || !(o.maskThreshold >= 0 && o.maskThreshold <= 65535))
  ) {
    throw new DatasetError('BAD_DATASET', 'dataset.json: maskThreshold must be a number 0..65535');
  }
  return o as DatasetOptions;
}

async function detectLayout(root: string): Promise<DatasetLayout> {
  const names = await readdir(root);
  if (names.includes('labels')) return 'cosmos';
  if (names.includes('masks')) return (await looksLikeImagesMasks(root)) ? 'images-masks' : 'per-structure';
  const hasNifti = async (dir: string): Promise<boolean> => {
    try {
      return (await readdir(dir)).some((n) => /\.nii(\.gz)?$/i.test(n));
    } catch {
      return false;
    }
  };
  if ((await hasNifti(root)) || (await hasNifti(join(root, 'images')))) return 'nifti';
  throw new DatasetError(
    'BAD_DATASET',
    `${root}: cannot tell the layout: expected labels/ (COSMOS), masks/ (image/mask pairs or one mask per structure) or NIfTI files`,
  );
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
