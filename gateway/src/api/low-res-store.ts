/**
 * Low-resolution mask logits handed to clients as opaque ids, so a later request can feed them back as
 * SAM's `mask_input` without resending 256 KiB of floats. Bounded by bytes, with a time-to-live.
 */
import { randomUUID } from 'node:crypto';
import type { LowResLogits } from '../core/segmenter.ts';

/** Options of the store. */
export interface LowResStoreOptions {
  /** Most bytes of logits kept; the least recently used go first. */
  maxBytes: number;
  /** Lifetime since last use in milliseconds. */
  ttlMs: number;
  now?: () => number;
}

/** An LRU of low-res logits by id. */
export class LowResStore {
  private readonly entries = new Map<string, { logits: LowResLogits; model: string; expiresAtMs: number }>();
  private readonly now: () => number;
  private bytes = 0;
  /** Hears every handle issued here (SharedHandles copies it to the shared store). */
  onPut: ((id: string, logits: LowResLogits, model: string) => void) | undefined;

  constructor(private readonly options: LowResStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Stores logits a model produced and returns their id. */
  put(logits: LowResLogits, model: string): string {
    const id = `lr_${randomUUID()}`;
    this.adopt(id, logits, model);
    this.onPut?.(id, logits, model);
    return id;
  }

  /** True when the id is held here and live (no refresh). */
  has(id: string): boolean {
    const entry = this.entries.get(id);
    return entry !== undefined && entry.expiresAtMs > this.now();
  }

  /** Holds logits under an id issued elsewhere (another replica, through the shared store). */
  adopt(id: string, logits: LowResLogits, model: string): void {
    const old = this.entries.get(id);
    if (old) {
      this.entries.delete(id);
      this.bytes -= old.logits.data.byteLength;
    }
    const size = logits.data.byteLength;
    while (this.entries.size > 0 && this.bytes + size > this.options.maxBytes) {
      const [oldestId, oldest] = this.entries.entries().next().value!;
      this.entries.delete(oldestId);
      this.bytes -= oldest.logits.data.byteLength;
    }
    this.entries.set(id, { logits, model, expiresAtMs: this.now() + this.options.ttlMs });
    this.bytes += size;
  }

  /** The logits for an id, or undefined when unknown or expired. */
  get(id: string): { logits: LowResLogits; model: string } | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= this.now()) {
      this.entries.delete(id);
      this.bytes -= entry.logits.data.byteLength;
      return undefined;
    }
    this.entries.delete(id);
    entry.expiresAtMs = this.now() + this.options.ttlMs;
    this.entries.set(id, entry);
    return entry;
  }
}
