/**
 * Handles that work on every replica (issue 15): an `embeddingId`, a `lowResId` or a session id issued by
 * one gateway is usable on any other that shares its PostgreSQL store, within its TTL.
 *
 * - Embeddings: the image's decoded pixels are stored once under the embedding id (its content hash over the
 *   encoder, the encoder's version and the preprocessing profile). A replica that misses the id in its own
 *   cache re-encodes those pixels and keeps the result only if it hashes to the same id again, so a changed
 *   model or encoder version turns into EMBEDDING_NOT_FOUND, never into a mask from another model.
 * - Low-res logits: stored by their random id with the model that produced them.
 * - Sessions: stored as their actions, masks (COCO RLE) and lowResIds, with a version; each change is a
 *   compare-and-set, so two replicas changing one session at once cannot both win (CONFLICT for the loser).
 *
 * Local caches stay in front: a replica that already holds the embedding, logits or session at its latest
 * version reads nothing from the store.
 */
import type { Logger } from 'pino';
import type { BinaryMask } from '../core/mask.ts';
import type { RasterData, Raster } from '../core/raster.ts';
import { decodeRle, encodeRle } from '../core/rle.ts';
import type { LowResLogits, MaskCandidate } from '../core/segmenter.ts';
import type { EmbeddingInfo, SamSession } from '../sam/session.ts';
import type { StateStore } from '../store/state-store.ts';
import type {
  AnnotationSessionState,
  SessionAction,
  SessionCaller,
  SessionStore,
} from './annotation-sessions.ts';
import { ApiError } from './errors.ts';
import type { LowResStore } from './low-res-store.ts';
import type { SpacingMemo } from './medical/services.ts';

const TYPED: Record<string, new (b: ArrayBuffer) => RasterData> = {
  Uint8Array,
  Uint16Array,
  Int16Array,
  Float32Array,
};

interface ImageMeta {
  model: string;
  width: number;
  height: number;
  channels: 1 | 3;
  dtype: string;
  spacing: [number, number] | null;
}

interface StoredMask {
  rle: { size: [number, number]; counts: string };
  predictedIou: number;
  stabilityScore: number;
  index: number;
}

interface StoredSession {
  model: string;
  embeddingId: string;
  width: number;
  height: number;
  startedAtMs: number;
  actions: readonly SessionAction[];
  masks: StoredMask[];
  lowResIds: readonly string[];
  /** The caller that opened it (principal kind:id). */
  owner?: string;
}

/** What the handles are shared through and with. */
export interface SharedHandlesDeps {
  store: StateStore;
  sam: SamSession;
  lowRes: LowResStore;
  sessions: SessionStore;
  spacings: SpacingMemo;
  /** Lifetimes in ms since last use. */
  embeddingTtlMs: number;
  sessionTtlMs: number;
  /** Most open sessions across every replica. */
  maxSessions: number;
  /** Most open sessions of one caller across every replica (default maxSessions). */
  maxSessionsPerCaller?: number;
  log?: Logger;
}

/** Shares embedding, low-res and session handles through the state store; see the module comment. */
export class SharedHandles {
  private readonly stored = new Set<string>();
  private readonly versions = new Map<string, number>();
  private pending: Array<Promise<unknown>> = [];

  constructor(private readonly deps: SharedHandlesDeps) {
    // Every low-res handle issued here is written to the store too (awaited by flush()).
    deps.lowRes.onPut = (id, logits, model) => {
      this.track(
        deps.store.putRecord({
          namespace: 'lowres',
          key: id,
          value: { model, size: logits.size },
          bytes: Buffer.from(logits.data.buffer, logits.data.byteOffset, logits.data.byteLength),
          expiresMs: Date.now() + deps.embeddingTtlMs,
        }),
      );
    };
  }

  /** Waits for the writes this replica started (call before answering with a handle). */
  async flush(): Promise<void> {
    const now = this.pending;
    this.pending = [];
    await Promise.all(now);
  }

  private track(p: Promise<unknown>): void {
    this.pending.push(
      p.catch((err: unknown) => this.deps.log?.warn({ err }, 'could not share a handle through the store')),
    );
  }

  /** Stores the pixels behind an embedding id, once per id and replica, so other replicas can re-encode them. */
  async rememberImage(e: EmbeddingInfo, raster: Raster): Promise<void> {
    if (this.stored.has(e.id)) return;
    const meta: ImageMeta = {
      model: e.model,
      width: raster.width,
      height: raster.height,
      channels: raster.channels,
      dtype: raster.data.constructor.name,
      spacing: raster.spacing ?? null,
    };
    const expiresMs = Date.now() + this.deps.embeddingTtlMs;
    const bytes = Buffer.from(raster.data.buffer, raster.data.byteOffset, raster.data.byteLength);
    const written = await this.deps.store.putRecord(
      { namespace: 'image', key: e.id, value: meta, bytes, expiresMs },
      0,
    );
    // Already there (another replica encoded the same pixels): slide its lifetime instead.
    if (written === null) await this.deps.store.getRecord('image', e.id, this.deps.embeddingTtlMs);
    this.stored.add(e.id);
    if (this.stored.size > 100_000) this.stored.clear();
  }

  /**
   * Makes an embedding id usable here: nothing when cached locally; else re-encodes the stored pixels and
   * keeps the result only when it has the same id. Leaves the cache untouched when the id is unknown.
   */
  async ensureEmbedding(id: string): Promise<void> {
    if (this.deps.sam.embedding(id)) return;
    const rec = await this.deps.store.getRecord('image', id, this.deps.embeddingTtlMs);
    if (!rec?.bytes) return;
    const meta = rec.value as ImageMeta;
    const Typed = TYPED[meta.dtype];
    if (!Typed) return;
    const copy = new Uint8Array(rec.bytes.byteLength);
    copy.set(rec.bytes);
    const raster: Raster = {
      width: meta.width,
      height: meta.height,
      channels: meta.channels,
      data: new Typed(copy.buffer),
      ...(meta.spacing ? { spacing: meta.spacing } : {}),
    };
    let again: EmbeddingInfo;
    try {
      again = await this.deps.sam.encode(raster, meta.model);
    } catch (err: unknown) {
      // The model is gone from the backend: the handle cannot be honoured (EMBEDDING_NOT_FOUND follows).
      if ((err as { code?: unknown }).code === 'MODEL_NOT_FOUND') return;
      throw err;
    }
    if (again.id !== id) {
      // Another encoder or version now serves the model: the old id names embeddings no replica can make.
      this.deps.log?.info({ embeddingId: id, now: again.id }, 'stored image re-encodes to another id');
      return;
    }
    this.deps.spacings.remember(id, raster.spacing);
    this.stored.add(id);
  }

  /** Makes a lowResId usable here (nothing when held locally or unknown everywhere). */
  async ensureLowRes(id: string): Promise<void> {
    if (this.deps.lowRes.has(id)) return;
    const rec = await this.deps.store.getRecord('lowres', id, this.deps.embeddingTtlMs);
    if (!rec?.bytes) return;
    const { model, size } = rec.value as { model: string; size: number };
    const copy = new Uint8Array(rec.bytes.byteLength);
    copy.set(rec.bytes);
    const logits: LowResLogits = { size, data: new Float32Array(copy.buffer) };
    if (logits.data.length !== size * size) return;
    this.deps.lowRes.adopt(id, logits, model);
  }

  /**
   * Claims a just-created session in the shared store under both session bounds, each counted and inserted in
   * one step (StateStore.putRecordBounded), so replicas racing for a caller's last slot cannot both take it:
   * LIMIT_EXCEEDED when `owner` holds `maxSessionsPerCaller` open sessions (checked first: one caller must not
   * use up the shared bound), or when `maxSessions` are open. A refused session is dropped here as well.
   */
  async claimSession(s: AnnotationSessionState): Promise<void> {
    await this.flush();
    const perCaller = this.deps.maxSessionsPerCaller ?? this.deps.maxSessions;
    const expiresMs = Date.now() + this.deps.sessionTtlMs;
    const ownerRecord = ownerKey(s.owner, s.id);
    const owned = await this.deps.store.putRecordBounded(
      { namespace: OWNER_NS, key: ownerRecord, value: null, bytes: null, expiresMs },
      ownerPrefix(s.owner),
      perCaller,
    );
    if (owned === null) {
      this.deps.sessions.delete(s.id);
      throw new ApiError(
        'LIMIT_EXCEEDED',
        `this caller holds ${perCaller} open sessions (limit ${perCaller} per caller); close one first`,
      );
    }
    const version = await this.deps.store.putRecordBounded(
      { namespace: 'session', key: s.id, value: storedSession(s), bytes: null, expiresMs },
      '',
      this.deps.maxSessions,
    );
    if (version === null) {
      this.deps.sessions.delete(s.id);
      await this.deps.store.deleteRecord(OWNER_NS, ownerRecord);
      throw new ApiError(
        'LIMIT_EXCEEDED',
        `too many open sessions (limit ${this.deps.maxSessions}); close one first`,
      );
    }
    this.versions.set(s.id, version);
  }

  /**
   * Brings a session to its latest stored version (from whichever replica changed it last); a session
   * closed or expired elsewhere is dropped here too.
   */
  async pullSession(id: string): Promise<void> {
    const rec = await this.deps.store.getRecord('session', id, this.deps.sessionTtlMs);
    if (!rec) {
      this.deps.sessions.delete(id);
      this.versions.delete(id);
      return;
    }
    const local = this.deps.sessions.find(id);
    if (local && (this.versions.get(id) ?? 0) >= rec.version) return;
    const v = rec.value as StoredSession;
    // The owner index lives as long as the session it counts.
    if (v.owner !== undefined)
      await this.deps.store.getRecord(OWNER_NS, ownerKey(v.owner, id), this.deps.sessionTtlMs);
    await this.ensureEmbedding(v.embeddingId);
    for (const lr of v.lowResIds) await this.ensureLowRes(lr);
    const masks: MaskCandidate[] = v.masks.map((m, i) => {
      const found = this.deps.lowRes.get(v.lowResIds[i]);
      const mask: BinaryMask = decodeRle(m.rle);
      return {
        mask,
        predictedIou: m.predictedIou,
        stabilityScore: m.stabilityScore,
        index: m.index,
        lowRes: found?.logits ?? { size: 0, data: new Float32Array(0) },
      };
    });
    const now = Date.now();
    const state: AnnotationSessionState = {
      id,
      model: v.model,
      embeddingId: v.embeddingId,
      width: v.width,
      height: v.height,
      startedAtMs: v.startedAtMs,
      lastUsedMs: now,
      actions: v.actions,
      masks,
      lowResIds: v.lowResIds,
      owner: v.owner ?? 'anonymous',
    };
    this.deps.sessions.adopt(state);
    this.versions.set(id, rec.version);
  }

  /** Writes a session after a change; CONFLICT when another replica changed it since this one read it. */
  async pushSession(s: AnnotationSessionState): Promise<void> {
    await this.flush();
    const value = storedSession(s);
    const expected = this.versions.get(s.id) ?? 0;
    const version = await this.deps.store.putRecord(
      { namespace: 'session', key: s.id, value, bytes: null, expiresMs: Date.now() + this.deps.sessionTtlMs },
      expected,
    );
    if (version === null) {
      // Our copy is stale: drop it so the next request reads the current one.
      this.deps.sessions.delete(s.id);
      this.versions.delete(s.id);
      throw new ApiError(
        'CONFLICT',
        `session '${s.id}' was changed on another replica at the same time; retry`,
      );
    }
    this.versions.set(s.id, version);
    // Counted per caller by key prefix (countRecords), with the session's expiry.
    await this.deps.store.putRecord({
      namespace: OWNER_NS,
      key: ownerKey(s.owner, s.id),
      value: null,
      bytes: null,
      expiresMs: Date.now() + this.deps.sessionTtlMs,
    });
  }

  /**
   * Closes a session everywhere; true when it existed (and, with `caller`, was the caller's or the caller is
   * an admin: another caller's session is answered like an unknown one).
   */
  async deleteSession(id: string, caller?: SessionCaller): Promise<boolean> {
    await this.pullSession(id);
    const s = this.deps.sessions.find(id, caller);
    if (caller !== undefined && s === undefined) return false;
    this.versions.delete(id);
    const local = this.deps.sessions.delete(id);
    const shared = await this.deps.store.deleteRecord('session', id);
    if (s !== undefined) await this.deps.store.deleteRecord(OWNER_NS, ownerKey(s.owner, id));
    return local || shared;
  }
}

/** A session as the shared store keeps it (masks as RLE). */
function storedSession(s: AnnotationSessionState): StoredSession {
  return {
    model: s.model,
    embeddingId: s.embeddingId,
    width: s.width,
    height: s.height,
    startedAtMs: s.startedAtMs,
    actions: s.actions,
    masks: s.masks.map((m) => ({
      rle: encodeRle(m.mask),
      predictedIou: m.predictedIou,
      stabilityScore: m.stabilityScore,
      index: m.index,
    })),
    lowResIds: s.lowResIds,
    owner: s.owner,
  };
}

// Record namespace indexing open sessions by owner: keys `<owner>|<session id>`.
const OWNER_NS = 'session-owner';

function ownerPrefix(owner: string): string {
  // Encoded, so that no owner's prefix is the start of another's.
  return `${encodeURIComponent(owner)}|`;
}

function ownerKey(owner: string, id: string): string {
  return `${ownerPrefix(owner)}${id}`;
}
