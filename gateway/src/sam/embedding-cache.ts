/**
 * An LRU cache of image embeddings bounded by bytes, with optional fp16 storage and hit/miss/eviction
 * counters. Entries also expire after a time-to-live since their last use. An embedding is a list of named
 * tensors: SAM's encoder gives one (`image_embeddings`), SAM 2's several (the embedding and high-resolution
 * features), each named by the decoder input it feeds.
 */
import { fromFp16Array, toFp16Array } from '../protocol/tensor-codec.ts';
import type { EmbeddingTensor } from './profile.ts';

/** One cached embedding and what it was computed from. */
export interface CachedEmbedding {
  id: string;
  model: string;
  modelVersion: string;
  /** Original image size in pixels. */
  width: number;
  height: number;
  /** The embedding's tensors: decoder input names and shapes without the batch dimension, in order. */
  tensors: Array<{ name: string; shape: number[] }>;
}

interface Entry {
  meta: CachedEmbedding;
  /** One payload per entry of meta.tensors, fp32 or fp16. */
  data: Array<Float32Array | Uint16Array>;
  bytes: number;
  expiresAtMs: number;
}

/** Counters of the cache. */
export interface CacheStats {
  entries: number;
  bytes: number;
  capacityBytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

/** Options of the cache. */
export interface EmbeddingCacheOptions {
  /** Byte budget (the stored payloads; 0 disables caching). */
  capacityBytes: number;
  /** Store payloads as IEEE fp16 (half the memory, ~1e-3 relative error). */
  fp16: boolean;
  /** Lifetime since last use in milliseconds. */
  ttlMs: number;
  /** Clock in milliseconds (tests inject one). */
  now?: () => number;
}

/** Byte-bounded LRU of embeddings; Map iteration order is the recency order. */
export class EmbeddingCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private readonly now: () => number;

  constructor(private readonly options: EmbeddingCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Looks an embedding up on behalf of an encode request: counts a hit or a miss, refreshes recency and
   * expiry, and returns its metadata.
   */
  lookup(id: string): { meta: CachedEmbedding; expiresAtMs: number } | undefined {
    const entry = this.find(id);
    if (!entry) {
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    return { meta: entry.meta, expiresAtMs: entry.expiresAtMs };
  }

  /** The embedding's tensors (fp32) for a decode, refreshing recency; not counted as a hit or a miss. */
  get(id: string): { meta: CachedEmbedding; tensors: EmbeddingTensor[]; expiresAtMs: number } | undefined {
    const entry = this.find(id);
    if (!entry) return undefined;
    const tensors = entry.meta.tensors.map((t, i) => {
      const d = entry.data[i];
      return { name: t.name, shape: t.shape, data: d instanceof Uint16Array ? fromFp16Array(d) : d };
    });
    return { meta: entry.meta, tensors, expiresAtMs: entry.expiresAtMs };
  }

  /** Metadata only, without counting a hit or a miss (for handles and listings). */
  peek(id: string): { meta: CachedEmbedding; expiresAtMs: number } | undefined {
    const entry = this.find(id);
    return entry ? { meta: entry.meta, expiresAtMs: entry.expiresAtMs } : undefined;
  }

  /**
   * Stores an embedding (one payload per entry of `meta.tensors`, in order), evicting least recently used
   * entries to stay within the byte budget.
   */
  set(meta: CachedEmbedding, data: Float32Array[]): number {
    if (data.length !== meta.tensors.length) {
      throw new RangeError(
        `embedding ${meta.id}: ${data.length} payloads for ${meta.tensors.length} tensors`,
      );
    }
    this.delete(meta.id);
    const stored = data.map((d) => (this.options.fp16 ? toFp16Array(d) : d));
    const bytes = stored.reduce((n, d) => n + d.byteLength, 0);
    const expiresAtMs = this.now() + this.options.ttlMs;
    if (bytes > this.options.capacityBytes) return expiresAtMs;
    while (this.bytes + bytes > this.options.capacityBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
      this.evictions += 1;
    }
    this.entries.set(meta.id, { meta, data: stored, bytes, expiresAtMs });
    this.bytes += bytes;
    return expiresAtMs;
  }

  /** Removes one entry; true when it existed. */
  delete(id: string): boolean {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.entries.delete(id);
    this.bytes -= entry.bytes;
    return true;
  }

  /** Current counters. */
  stats(): CacheStats {
    return {
      entries: this.entries.size,
      bytes: this.bytes,
      capacityBytes: this.options.capacityBytes,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }

  private find(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    const now = this.now();
    if (entry.expiresAtMs <= now) {
      this.delete(id);
      this.evictions += 1;
      return undefined;
    }
    // Refresh recency (re-insert at the end) and expiry.
    this.entries.delete(id);
    entry.expiresAtMs = now + this.options.ttlMs;
    this.entries.set(id, entry);
    return entry;
  }
}
