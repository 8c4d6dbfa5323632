/**
 * What every resolver module shares: the prompt arguments of the schema (PointInput, BoxInput) checked at the
 * boundary, and the decode slot. Resolvers throw typed errors as they are; the error formatter
 * (error-format.ts) maps them once.
 */
import type { PromptPoint } from '../core/segmenter.ts';
import type { Semaphore } from '../core/semaphore.ts';
import { ApiError } from './errors.ts';

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

/** Runs `fn` holding one of MAX_DECODES slots; a full waiting line is RESOURCE_EXHAUSTED (api/errors.ts). */
export async function decodeSlot<T>(services: { decodes: Semaphore }, fn: () => Promise<T>): Promise<T> {
  // A full waiting line throws SemaphoreFullError, which the error table answers as RESOURCE_EXHAUSTED.
  const release = await services.decodes.acquire();
  try {
    return await fn();
  } finally {
    release();
  }
}
