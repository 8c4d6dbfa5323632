/**
 * Low-resolution mask logits handed to clients as opaque ids, so a later request can feed them back as
 * SAM's `mask_input` without resending 256 KiB of floats. Bounded by entry count, with a time-to-live.
 */
import { randomUUID } from 'node:crypto';
import type { LowResLogits } from '../core/segmenter.ts';

/** Options of the store. */
export interface LowResStoreOptions {
  /** Most entries kept; the least recently used goes first. */
  maxEntries: number;
  /** Lifetime since last use in milliseconds. */
  ttlMs: number;
  now?: () => number;
}

/** An LRU of low-res logits by id. */
export class LowResStore {
  private readonly entries = new Map<
    string,
    { logits: LowResLogits; model: string; embeddingId: string; expiresAtMs: number }
  >();
  private readonly now: () => number;

  constructor(private readonly options: LowResStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Stores logits produced for an embedding and returns their id. */
  put(logits: LowResLogits, model: string, embeddingId: string): string {
    const id = `lr_${randomUUID()}`;
    while (this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(id, { logits, model, embeddingId, expiresAtMs: this.now() + this.options.ttlMs });
    return id;
  }

  /** The logits for an id, or undefined when unknown or expired. */
  get(id: string): { logits: LowResLogits; model: string; embeddingId: string } | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    this.entries.delete(id);
    entry.expiresAtMs = this.now() + this.options.ttlMs;
    this.entries.set(id, entry);
    return entry;
  }
}
