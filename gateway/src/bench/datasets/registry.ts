/** Registering datasets in the job store: scan once, keep the statistics and problems, reload by id. */
import { resolve } from 'node:path';
import type { DatasetRow, JobStore } from '../job-store.ts';
import { DatasetError, type Dataset, type DatasetOptions } from './dataset.ts';
import { loadDataset } from './load-dataset.ts';

/**
 * Scans `root` and stores it under `id` (default: a slug of its name). Returns the stored row and the scan.
 * Registering the same folder again refreshes its row; an id that names another folder is refused
 * (DatasetError EXISTS) unless `replace` is set, because jobs refer to datasets by id.
 */
export async function registerDataset(
  store: JobStore,
  root: string,
  options: DatasetOptions & { id?: string; replace?: boolean } = {},
): Promise<{ row: DatasetRow; dataset: Dataset }> {
  const { id: wanted, replace, ...loadOptions } = options;
  const abs = resolve(root);
  const dataset = await loadDataset(abs, loadOptions);
  const id = wanted ?? slug(dataset.name);
  const existing = await store.getDataset(id);
  if (existing !== undefined && existing.root !== abs && replace !== true) {
    throw new DatasetError(
      'EXISTS',
      `dataset id '${id}' is already registered for another folder; choose another id or ask to replace it`,
    );
  }
  const row = await store.putDataset({
    id,
    name: dataset.name,
    root: abs,
    layout: dataset.layout,
    modality: dataset.modality,
    options: { ...loadOptions, layout: dataset.layout } as Record<string, unknown>,
    stats: dataset.stats,
    problems: dataset.problems,
  });
  return { row, dataset };
}

/** Re-scans a registered dataset with its stored options. */
export async function openRegisteredDataset(store: JobStore, id: string): Promise<Dataset> {
  const row = await store.getDataset(id);
  if (row === undefined) throw new DatasetError('NOT_FOUND', `no dataset registered as '${id}'`);
  return loadDataset(row.root, row.options as DatasetOptions);
}

/** A lower-case id from a name: letters, digits and dashes. */
export function slug(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return s.length > 0 ? s : 'dataset';
}
