/**
 * What the benchmark engine and the API need from a SAM model, independent of how it is served. The SAM
 * session (gateway/src/sam/session.ts) implements it over KServe v2; tests may use fakes.
 * Coordinates are pixels of the original image: x to the right, y down, as in SAM's predictor.
 */
import type { BinaryMask } from './mask.ts';
import type { Raster } from './raster.ts';

/** A click: label 1 positive (object), 0 negative (background). */
export interface PromptPoint {
  x: number;
  y: number;
  label: 0 | 1;
}

/** Low-resolution mask logits (SAM's 256x256 `low_res_masks`), fed back as `mask_input`. */
export interface LowResLogits {
  size: number;
  data: Float32Array;
}

/** One prompt for one object: points, an optional box [x0, y0, x1, y1] and optional previous logits. */
export interface PromptSet {
  points: PromptPoint[];
  box?: [number, number, number, number];
  maskInput?: LowResLogits;
}

/** One candidate mask from the decoder, at the original image size. */
export interface MaskCandidate {
  mask: BinaryMask;
  /** The decoder's own quality estimate (SAM's iou_predictions). */
  predictedIou: number;
  /** SAM's stability score: IoU of the mask thresholded at +offset and -offset (offset 1.0). */
  stabilityScore: number;
  lowRes: LowResLogits;
  /** Index of the decoder output this candidate came from (0..C-1). */
  index: number;
}

/** A computed (or cached) image embedding. */
export interface EmbeddingHandle {
  /** Content-addressed id: hash of decoded pixels, model name and version, and profile. */
  id: string;
  model: string;
  modelVersion: string;
  width: number;
  height: number;
  /** True when the embedding came from the cache. */
  cached: boolean;
}

/** Options of one decode call. */
export interface DecodeOptions {
  /** true: every candidate (C of them); false: SAM's single-mask output (candidate 0). */
  multimask: boolean;
  /** Logit threshold for the binary masks (SAM: 0). */
  maskThreshold?: number;
  /** Offset of SAM's stability score (default 1.0). */
  stabilityOffset?: number;
  /** 'best': only the candidate with the highest predicted IoU is materialized (default 'all'). */
  select?: 'all' | 'best';
}

/** A promptable SAM-family model. */
export interface Segmenter {
  /** Computes or finds the embedding of an image for a model. */
  encode(image: Raster, model: string): Promise<EmbeddingHandle>;
  /** Decodes prompt sets against an embedding: one list of candidates per prompt set. */
  decode(embeddingId: string, prompts: PromptSet[], options: DecodeOptions): Promise<MaskCandidate[][]>;
}
