/**
 * Train / validation / test splits of a dataset by group (a volume or patient), never by slice. Pure.
 *
 * The group of an image comes from its id: a NIfTI slice `<volume>@<axis>:<slice>` belongs to its volume, and
 * a name ending in `_<volume>_<slice>` (the COSMOS cardiac slices `22_Heart_<v>_<s>`) to `<name>_<volume>`;
 * any other image is its own group. A split is either explicit, naming groups by their full key or by their
 * last number (`train=2,4;val=3;test=5`), or `auto`: groups shuffled by the seed and cut 60/20/20 (at least
 * one group in train, and one each in validation and test when there are three groups or more).
 */

/** The images and groups of each part of a split. */
export interface DatasetSplit {
  /** The split as given (`auto` or the explicit text), for provenance. */
  spec: string;
  train: string[];
  val: string[];
  test: string[];
  groups: { train: string[]; val: string[]; test: string[] };
}

/** A split that cannot be made: unknown group, a group named twice, or an empty training part. */
export class SplitError extends Error {
  constructor(
    readonly code: 'BAD_SPLIT' | 'EMPTY_DATASET',
    message: string,
  ) {
    super(message);
    this.name = 'SplitError';
  }
}

/** The group (volume or patient) an image id belongs to. */
export function groupOf(imageId: string): string {
  const at = imageId.indexOf('@');
  if (at > 0) return imageId.slice(0, at);
  const m = /^(.+_\d+)_\d+$/.exec(imageId);
  return m ? m[1] : imageId;
}

// A small deterministic generator (mulberry32) so that `auto` splits depend only on the seed.
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function byGroup(imageIds: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const id of [...imageIds].sort()) {
    const g = groupOf(id);
    groups.set(g, [...(groups.get(g) ?? []), id]);
  }
  return groups;
}

/** Splits image ids by group; `spec` is `auto` or `train=..;val=..;test=..` (val and test optional). */
export function splitDataset(imageIds: readonly string[], spec: string, seed: number): DatasetSplit {
  if (imageIds.length === 0) throw new SplitError('EMPTY_DATASET', 'the dataset has no images');
  const groups = byGroup(imageIds);
  const keys = [...groups.keys()];
  const parts: Record<'train' | 'val' | 'test', string[]> = { train: [], val: [], test: [] };
  const text = spec.trim();
  if (text === '' || text === 'auto') {
    const order = [...keys];
    const rnd = random(seed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const n = order.length;
    const held = n >= 3 ? Math.max(1, Math.round(n * 0.2)) : 0;
    parts.test = order.slice(0, held);
    parts.val = order.slice(held, 2 * held);
    parts.train = order.slice(2 * held);
  } else {
    const used = new Map<string, string>();
    for (const clause of text.split(';')) {
      const m = /^\s*(train|val|test)\s*=\s*(.*)$/.exec(clause);
      if (!m) {
        throw new SplitError('BAD_SPLIT', `split clause '${clause}' is not train=..., val=... or test=...`);
      }
      const part = m[1] as 'train' | 'val' | 'test';
      for (const name of m[2]
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const hits = keys.filter((k) => k === name || k.endsWith(`_${name}`));
        if (hits.length !== 1) {
          throw new SplitError(
            'BAD_SPLIT',
            `split group '${name}' matches ${hits.length} groups; groups are ${keys.join(', ')}`,
          );
        }
        const prev = used.get(hits[0]);
        if (prev !== undefined) {
          throw new SplitError('BAD_SPLIT', `group '${hits[0]}' is in both ${prev} and ${part}`);
        }
        used.set(hits[0], part);
        parts[part].push(hits[0]);
      }
    }
  }
  if (parts.train.length === 0)
    throw new SplitError('EMPTY_DATASET', 'the training part of the split is empty');
  const images = (gs: string[]) => gs.flatMap((g) => groups.get(g) ?? []);
  return {
    spec: text === '' ? 'auto' : text,
    train: images(parts.train),
    val: images(parts.val),
    test: images(parts.test),
    groups: { train: parts.train, val: parts.val, test: parts.test },
  };
}
