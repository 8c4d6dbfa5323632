/**
 * What every resolver module shares: the prompt arguments of the schema (PointInput, BoxInput) checked at the
 * boundary, and the wrapper that turns any thrown error into a GraphQLError with a public code.
 */
import type { PromptPoint } from '../core/segmenter.ts';
import { SemaphoreFullError, type Semaphore } from '../core/semaphore.ts';
import { ApiError, toGraphQLError } from './errors.ts';

/** PointInput. */
export interface PointArg {
  x: number;
  y: number;
  positive: boolean;
}
/** BoxInput. */
export interface BoxArg {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A finite number, or BAD_PROMPT naming the field. */
export function finite(value: number, what: string): number {
  if (!Number.isFinite(value))
    throw new ApiError('BAD_PROMPT', `${what} must be a finite number, got ${value}`);
  return value;
}

/** A point inside a w x h image, or BAD_PROMPT naming it and the image size. */
export function checkPoint(p: PointArg, w: number, h: number, where: string): PromptPoint {
  finite(p.x, `${where}.x`);
  finite(p.y, `${where}.y`);
  if (p.x < 0 || p.y < 0 || p.x > w || p.y > h) {
    throw new ApiError('BAD_PROMPT', `${where} (${p.x}, ${p.y}) lies outside the ${w}x${h} image`);
  }
  return { x: p.x, y: p.y, label: p.positive ? 1 : 0 };
}

/** An ordered box inside a w x h image, or BAD_PROMPT naming it. */
export function checkBox(b: BoxArg, w: number, h: number, where: string): [number, number, number, number] {
  for (const k of ['x0', 'y0', 'x1', 'y1'] as const) finite(b[k], `${where}.${k}`);
  if (b.x1 < b.x0 || b.y1 < b.y0) {
    throw new ApiError(
      'BAD_PROMPT',
      `${where} must have x0 <= x1 and y0 <= y1, got [${b.x0}, ${b.y0}, ${b.x1}, ${b.y1}]`,
    );
  }
  if (b.x0 < 0 || b.y0 < 0 || b.x1 > w || b.y1 > h) {
    throw new ApiError(
      'BAD_PROMPT',
      `${where} [${b.x0}, ${b.y0}, ${b.x1}, ${b.y1}] lies outside the ${w}x${h} image`,
    );
  }
  return [b.x0, b.y0, b.x1, b.y1];
}

/**
 * Wraps a resolver so every thrown error leaves as a GraphQLError with a public code; `mapError` lets a
 * module translate its own layer's errors first.
 */
export function guarded<A extends unknown[], R>(
  fn: (...args: A) => Promise<R> | R,
  mapError: (err: unknown) => unknown = (err) => err,
): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err: unknown) {
      const ctx = args[2] as { requestId?: string } | undefined;
      throw toGraphQLError(mapError(err), ctx?.requestId);
    }
  };
}

/** Runs `fn` holding one of MAX_DECODES slots; a full waiting line is RESOURCE_EXHAUSTED. */
export async function decodeSlot<T>(services: { decodes: Semaphore }, fn: () => Promise<T>): Promise<T> {
  let release: () => void;
  try {
    release = await services.decodes.acquire();
  } catch (err: unknown) {
    if (err instanceof SemaphoreFullError)
      throw new ApiError(
        'RESOURCE_EXHAUSTED',
        `too many images are being decoded (${err.message}); retry later`,
        {
          retryAfterSeconds: 1,
        },
      );
    throw err;
  }
  try {
    return await fn();
  } finally {
    release();
  }
}
