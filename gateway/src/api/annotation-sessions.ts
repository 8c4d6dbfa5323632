/**
 * Interactive annotation sessions: one image, one model, a growing list of prompts (clicks and a box), and
 * the current mask. Each change re-runs the decoder with every prompt so far and the previous low-res logits
 * as `mask_input`, as SAM's interactive predictor does. Sessions expire when idle and their number is bounded.
 */
import { randomUUID } from 'node:crypto';
import type { MaskCandidate, PromptPoint } from '../core/segmenter.ts';
import { ApiError } from './errors.ts';

/** One step of a session's history. */
export type SessionAction =
  { kind: 'click'; point: PromptPoint } | { kind: 'box'; box: [number, number, number, number] | undefined };

/** Session state. */
export interface AnnotationSessionState {
  id: string;
  model: string;
  embeddingId: string;
  width: number;
  height: number;
  startedAtMs: number;
  lastUsedMs: number;
  /** The history: read it here, change it only through the SessionStore methods (addAction, undo, ...). */
  readonly actions: readonly SessionAction[];
  /** Masks after each action, parallel to `actions` (undo pops both). */
  readonly masks: readonly MaskCandidate[];
  /** lowResId of the current mask, for clients that refine it with segment. */
  readonly lowResIds: readonly string[];
  /** The caller that opened it (principal kind:id); only it, or an admin, may see or change it. */
  owner: string;
}

/** The history of a session as the store changes it (the state's fields are read-only to everyone else). */
interface SessionHistory {
  actions: SessionAction[];
  masks: MaskCandidate[];
  lowResIds: string[];
}

/** The current mask of a session and the lowResId it was stored under. */
export interface CurrentMask {
  mask: MaskCandidate;
  lowResId: string;
}

/** Who asks for a session: a principal id (kind:id) and whether it is an admin. */
export interface SessionCaller {
  id: string;
  admin: boolean;
}

/** Options of the store. */
export interface SessionStoreOptions {
  maxSessions: number;
  /** Most open sessions one caller may hold (default: maxSessions). */
  maxPerCaller?: number;
  ttlMs: number;
  now?: () => number;
}

/** Sessions by id. */
export class SessionStore {
  private readonly sessions = new Map<string, AnnotationSessionState>();
  private readonly now: () => number;

  constructor(private readonly options: SessionStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Opens a session; LIMIT_EXCEEDED when the bound is reached after dropping expired ones. */
  create(
    model: string,
    embeddingId: string,
    width: number,
    height: number,
    owner = 'anonymous',
  ): AnnotationSessionState {
    this.sweep();
    const perCaller = this.options.maxPerCaller ?? this.options.maxSessions;
    let mine = 0;
    for (const s of this.sessions.values()) if (s.owner === owner) mine++;
    // The per-caller quota comes first: one caller must not use up the shared bound.
    if (mine >= perCaller) {
      throw new ApiError(
        'LIMIT_EXCEEDED',
        `this caller holds ${mine} open sessions (limit ${perCaller} per caller); close one first`,
      );
    }
    if (this.sessions.size >= this.options.maxSessions) {
      throw new ApiError(
        'LIMIT_EXCEEDED',
        `too many open sessions (limit ${this.options.maxSessions}); close one first`,
      );
    }
    const now = this.now();
    const state: AnnotationSessionState = {
      id: `sess_${randomUUID()}`,
      model,
      embeddingId,
      width,
      height,
      startedAtMs: now,
      lastUsedMs: now,
      actions: [],
      masks: [],
      lowResIds: [],
      owner,
    };
    this.sessions.set(state.id, state);
    return state;
  }

  /**
   * A live session, refreshed; SESSION_NOT_FOUND when unknown, expired, or (with `caller`) owned by another
   * caller that is not an admin: the answer does not tell which, so ids cannot be probed.
   */
  get(id: string, caller?: SessionCaller): AnnotationSessionState {
    const s = this.sessions.get(id);
    if (!s || this.expired(s) || (caller !== undefined && !caller.admin && s.owner !== caller.id)) {
      if (s && this.expired(s)) this.sessions.delete(id);
      throw new ApiError('SESSION_NOT_FOUND', `session '${id}' is unknown or expired`);
    }
    s.lastUsedMs = this.now();
    return s;
  }

  /** A live session or undefined (for queries). */
  find(id: string, caller?: SessionCaller): AnnotationSessionState | undefined {
    try {
      return this.get(id, caller);
    } catch {
      return undefined;
    }
  }

  /**
   * Holds a session read from the shared store (another replica created or changed it), replacing any older
   * local copy. The session bound is enforced across replicas by SharedHandles, not here.
   */
  adopt(state: AnnotationSessionState): void {
    this.sessions.set(state.id, state);
  }

  /** Closes a session; true when it existed (and, with `caller`, was the caller's or the caller is admin). */
  delete(id: string, caller?: SessionCaller): boolean {
    if (caller !== undefined && this.find(id, caller) === undefined) return false;
    return this.sessions.delete(id);
  }

  /** LIMIT_EXCEEDED when the session already holds `maxClicks` clicks (checked before a click is added). */
  checkClickRoom(s: AnnotationSessionState, maxClicks: number): void {
    if (sessionPrompts(s.actions).points.length >= maxClicks) {
      throw new ApiError('LIMIT_EXCEEDED', `a session holds at most ${maxClicks} clicks`);
    }
  }

  /** Appends a click or a box to the session's history. */
  addAction(s: AnnotationSessionState, action: SessionAction): void {
    history(s).actions.push(action);
  }

  /** Records the mask the decoder gave for the history so far, and the lowResId its logits are kept under. */
  recordMask(s: AnnotationSessionState, mask: MaskCandidate, lowResId: string): void {
    history(s).masks.push(mask);
    history(s).lowResIds.push(lowResId);
  }

  /** Takes back the latest action and the mask it produced (nothing when the history is empty). */
  undo(s: AnnotationSessionState): void {
    const h = history(s);
    if (h.actions.length === 0) return;
    h.actions.pop();
    if (h.masks.length > h.actions.length) {
      h.masks.pop();
      h.lowResIds.pop();
    }
  }

  /** Clears the history: no prompts, no mask. */
  reset(s: AnnotationSessionState): void {
    const h = history(s);
    h.actions = [];
    h.masks = [];
    h.lowResIds = [];
  }

  /** The session's current mask and its lowResId, or undefined before the first mask. */
  current(s: AnnotationSessionState): CurrentMask | undefined {
    const n = s.masks.length;
    return n > 0 ? { mask: s.masks[n - 1], lowResId: s.lowResIds[n - 1] } : undefined;
  }

  /** When a session expires (ms since epoch). */
  expiresAtMs(s: AnnotationSessionState): number {
    return s.lastUsedMs + this.options.ttlMs;
  }

  /** Open sessions. */
  get size(): number {
    this.sweep();
    return this.sessions.size;
  }

  private expired(s: AnnotationSessionState): boolean {
    return this.expiresAtMs(s) <= this.now();
  }

  private sweep(): void {
    for (const [id, s] of this.sessions) if (this.expired(s)) this.sessions.delete(id);
  }
}

/** The history of a session, writable: only the SessionStore's methods call this. */
function history(s: AnnotationSessionState): SessionHistory {
  return s as unknown as SessionHistory;
}

/** The prompts a session's actions add up to: every click, and the latest box. */
export function sessionPrompts(actions: readonly SessionAction[]): {
  points: PromptPoint[];
  box: [number, number, number, number] | undefined;
} {
  const points: PromptPoint[] = [];
  let box: [number, number, number, number] | undefined;
  for (const a of actions) {
    switch (a.kind) {
      case 'click':
        points.push(a.point);
        break;
      case 'box':
        box = a.box;
        break;
      default: {
        const never: never = a;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }
  return { points, box };
}
