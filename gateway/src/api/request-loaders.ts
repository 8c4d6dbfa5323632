/**
 * Per-request loaders (DataLoader): what one GraphQL operation reads several times is read once. Fields of
 * one operation run concurrently, so several `segment` aliases on one image, or a job asked for under two
 * aliases, each go to the backend or the store once; the answer is shared by every field that asked. Loaders
 * live exactly as long as one request (HTTP) or one subscription (WebSocket): nothing is cached across
 * requests here, so a job read twice in two requests is read fresh each time. Mutations that change a job
 * clear its entry before reading it again.
 */
import { createHash } from 'node:crypto';
import DataLoader from 'dataloader';
import type { SamModel } from '../sam/contract.ts';
import type { EmbeddingInfo } from '../sam/session.ts';
import { callerOf, type Principal } from './auth.ts';
import type { ApiServices, ImageKey, RequestLoaders } from './context.ts';
import { readImageInput } from './image-input.ts';
import { decodeSlot } from './resolver-kit.ts';

/** DataLoader wants an Error per failed key; anything else thrown is wrapped. */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Runs `load` for every key at once; a key that fails gets its own error, the others their values. */
function each<K, V>(load: (key: K) => Promise<V>): (keys: readonly K[]) => Promise<Array<V | Error>> {
  return (keys) => Promise.all(keys.map((k) => load(k).catch(asError)));
}

/**
 * The identity of an image input: a hash of the input as the client gave it (bytes or path, frame, slice,
 * window) and the model. Two aliases with the same input share one encode; inputs that merely decode to the
 * same pixels are shared later, by the session's content-addressed embedding cache.
 */
function imageKey(key: ImageKey): string {
  return createHash('sha256')
    .update(JSON.stringify([key.model, key.image]))
    .digest('base64url');
}

/** Creates the loaders of one request, for the caller it authenticated (absent: nobody). */
export function createLoaders(services: ApiServices, principal?: Principal): RequestLoaders {
  const caller = callerOf({ principal });
  const model = new DataLoader<string, SamModel>(each((name) => services.sam.resolve(name)));
  const embeddingById = new DataLoader<string, EmbeddingInfo | null>(
    each(async (id) => {
      // Issued by another replica: re-encoded here from the shared pixels (same id or not at all).
      await services.handles?.ensureEmbedding(id);
      return services.sam.embedding(id) ?? null;
    }),
  );
  const embeddingByImage = new DataLoader<ImageKey, EmbeddingInfo, string>(
    each(async ({ image, model: name }) => {
      // Bytes, pixels and the model input tensor live from the read to the end of the encode: that whole
      // span holds a decode slot, so concurrent requests cannot pile up decoded images without bound.
      const encoded = await decodeSlot(services, async () => {
        const raster = await readImageInput(image, {
          maxBytes: services.config.maxBodyBytes,
          maxPixels: services.config.maxPixels,
          dataRoots: services.config.dataRoots,
          pacs: services.medical.pacs,
        });
        const e = await services.sam.encode(raster, await model.load(name));
        services.medical.spacings.remember(e.id, raster.spacing);
        await services.handles?.rememberImage(e, raster);
        return e;
      });
      embeddingById.prime(encoded.id, encoded);
      return encoded;
    }),
    { cacheKeyFn: imageKey },
  );
  return {
    model,
    // One repository index (and one config read per model) however many `model(name:)` fields ask.
    modelListing: new DataLoader(async (names) => {
      const all = await services.sam.listModels();
      return names.map((n) => all.find((m) => m.name === n) ?? null);
    }),
    embeddingByImage,
    embeddingById,
    benchmarkJob: new DataLoader(
      each(async (id) => {
        const row = await services.benchmark.job(id);
        // Another caller's job is answered like an unknown one, so ids cannot be probed.
        return row && (caller.admin || row.owner === caller.id) ? row : null;
      }),
    ),
    volumeJob: new DataLoader(
      each(async (id) => (await services.medical.volumeJobs.findShared(id, caller)) ?? null),
    ),
    fineTuneJob: new DataLoader(each(async (id) => (await services.finetune.job(id)) ?? null)),
  };
}
