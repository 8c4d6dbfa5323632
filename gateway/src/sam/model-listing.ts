/**
 * The `models` listing: the models a client can name in a request (a SAM ensemble, or an encoder whose
 * config names its decoder), never their components, each with its readiness and, when not ready, why.
 * Models the repository index reports as not ready cost no further backend call: their config cannot be read
 * from Triton anyway, and asking for it only ran the retry policy (and its warnings) on every listing.
 */
import type { RepositoryModel } from '../protocol/types.ts';

/** The `sam.*` parameters of a model's config that matter for listing. */
export interface SamConfigParams {
  encoder?: string;
  decoder?: string;
  profile?: string;
}

/** What the listing needs from the backend for a READY model. */
export interface ListingDeps<M> {
  /** The model's platform and `sam.*` parameters; rejects when the config cannot be read. */
  config(name: string): Promise<{ platform: string; params: SamConfigParams }>;
  /** Resolves a servable model (encoder, decoder, profile); rejects with why it cannot be served. */
  resolve(name: string): Promise<M & { encoder: string; decoder: string }>;
}

/** One listed model. */
export interface ListedModel<M> {
  name: string;
  version: string;
  ready: boolean;
  /** Why the model cannot be served (empty when ready). */
  reason: string;
  platform: string;
  encoder: string;
  decoder: string;
  /** The resolved model when ready. */
  model: M | undefined;
}

const COMPONENT = /^(.+)_(encoder|decoder)$/;

/** Lists the servable models of a repository index (see module doc), sorted by name. */
export async function listServableModels<M>(
  index: readonly RepositoryModel[],
  deps: ListingDeps<M>,
): Promise<Array<ListedModel<M>>> {
  const rowOf = new Map<string, RepositoryModel>();
  for (const m of index) {
    const seen = rowOf.get(m.name);
    if (seen === undefined || (seen.state !== 'READY' && m.state === 'READY')) rowOf.set(m.name, m);
  }
  const names = [...rowOf.keys()].sort();
  const rows: Array<ListedModel<M> & { components: string[] }> = [];
  for (const name of names) {
    const row = rowOf.get(name)!;
    if (row.state !== 'READY') {
      // Decoders are never servable alone; an encoder whose ensemble is listed is that ensemble's part.
      const part = COMPONENT.exec(name);
      if (part && (part[2] === 'decoder' || rowOf.has(part[1]))) continue;
      const encoder = rowOf.has(`${name}_encoder`) ? `${name}_encoder` : part ? name : '';
      const decoder = rowOf.has(`${name}_decoder`)
        ? `${name}_decoder`
        : part && rowOf.has(`${part[1]}_decoder`)
          ? `${part[1]}_decoder`
          : '';
      rows.push({
        name,
        version: row.version,
        ready: false,
        reason: notReadyReason(row, [encoder, decoder], rowOf),
        platform: '',
        encoder,
        decoder,
        model: undefined,
        components: [encoder, decoder].filter((c) => c !== name),
      });
      continue;
    }
    let config: Awaited<ReturnType<ListingDeps<M>['config']>> | undefined;
    try {
      config = await deps.config(name);
    } catch {
      config = undefined;
    }
    // A READY model without sam.* parameters is not a SAM model (or a bare decoder): not servable.
    if (config === undefined || (config.params.profile === undefined && config.params.encoder === undefined))
      continue;
    let model: (M & { encoder: string; decoder: string }) | undefined;
    let reason = '';
    try {
      model = await deps.resolve(name);
    } catch (err: unknown) {
      reason = err instanceof Error ? err.message : String(err);
    }
    const encoder = model?.encoder ?? config.params.encoder ?? name;
    const decoder = model?.decoder ?? config.params.decoder ?? '';
    rows.push({
      name,
      version: row.version,
      ready: model !== undefined,
      reason,
      platform: config.platform,
      encoder,
      decoder,
      model,
      components: config.params.encoder ? [encoder, decoder] : [],
    });
  }
  // Components of a listed ensemble are not listed on their own.
  const parts = new Set(rows.flatMap((r) => r.components).filter((c) => c !== ''));
  return rows.filter((r) => !parts.has(r.name)).map(({ components: _components, ...listed }) => listed);
}

/** Why a model is not ready: its components' reasons when they are the cause, else its own. */
function notReadyReason(
  row: RepositoryModel,
  components: string[],
  rowOf: ReadonlyMap<string, RepositoryModel>,
): string {
  // An ensemble's own reason only repeats its first broken step; a model file's own reason is the cause.
  const broken = [...new Set(components)]
    .filter((c) => c !== '')
    .map((c) => rowOf.get(c)!)
    .filter((c) => c.state !== 'READY');
  if (broken.length > 0)
    return broken
      .map((c) => `${c.name} ${c.state.toLowerCase()}: ${c.reason || 'no reason given'}`)
      .join('; ');
  return `${row.state.toLowerCase()}: ${row.reason || 'no reason given'}`;
}
