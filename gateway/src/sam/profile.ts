/**
 * A SAM-family profile: everything that differs between model families (official SAM, MedSAM, an encoder
 * with preprocessing in its graph, SAM 2) behind one interface, one file per family in `profiles/`. The
 * session, the decode batcher and `medseg models check` call the profile instead of branching on the family.
 * The data half of a profile (input size, normalization constants, tensor names) is the contract an
 * encoder's config.pbtxt declares (`contract.ts`); the behaviour half lives here.
 */
import type { BinaryMask } from '../core/mask.ts';
import type { Raster } from '../core/raster.ts';
import type { LowResLogits } from '../core/segmenter.ts';
import type { ModelMetadata, Tensor, TensorMetadata } from '../protocol/types.ts';
import type { ModelProfile, ProfileName, SamModel } from './contract.ts';

/** A decoder-side tensor computed once per image by the encoder: the decoder input it feeds, and its values. */
export interface EmbeddingTensor {
  /** Decoder input name (SAM: image_embeddings; SAM 2 adds its high-resolution features). */
  name: string;
  /** Shape without the batch dimension. */
  shape: number[];
  data: Float32Array;
}

/** One decoder candidate after post-processing at the original size. */
export interface ProcessedMask {
  mask: BinaryMask;
  stabilityScore: number;
}

/** Behaviour of one SAM-family model family. */
export interface SamProfile {
  readonly name: ProfileName;
  /** Inputs of the encoder request for one image, preprocessed as the contract says. */
  encoderInputs(image: Raster, model: SamModel): Tensor[];
  /**
   * Which encoder outputs make up the embedding and which decoder input each feeds, checked against the
   * models' metadata; one entry for SAM, several for SAM 2.
   */
  embeddingTensors(encoder: ModelMetadata, decoder: ModelMetadata): Array<{ output: string; input: string }>;
  /** Maps a point (original pixels) into the model's input frame. */
  toModelFrame(x: number, y: number, height: number, width: number, profile: ModelProfile): [number, number];
  /** Thresholds one candidate's low-res logits at the original size, with SAM's stability score. */
  postprocess(
    lowRes: Float32Array,
    lowResSize: number,
    height: number,
    width: number,
    profile: ModelProfile,
    options: { threshold: number; stabilityOffset: number },
  ): ProcessedMask;
  /** A full-size binary mask as the decoder's mask_input prior (logits of +-magnitude). */
  lowResPrior(mask: BinaryMask, profile: ModelProfile, magnitude?: number): LowResLogits;
  /** Problems of the encoder's image input against the contract (empty when usable). */
  checkImageInput(image: TensorMetadata, profile: ModelProfile): string[];
}
