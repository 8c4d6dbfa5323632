/**
 * Model contracts: how a SAM-family model wants its input, as data (the behaviour is the family's profile in
 * `profiles/`). A profile is declared in the encoder's
 * config.pbtxt `parameters` (keys `sam.*`), read through the ModelConfig RPC so that Triton serves the model
 * unchanged, and checked against the models' real tensors (ModelMetadata) before use.
 * Contracts: ../shared/DESIGN.md "SAM ONNX interfaces".
 */
import type { ModelConfig } from '../protocol/model-config.ts';

/** The SAM families with a profile in `profiles/` (the values of `sam.profile`). */
export const PROFILE_NAMES = ['sam', 'medsam', 'sam_hwc'] as const;
/** One SAM family. */
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** The preprocessing contract of one encoder + decoder pair. */
export interface ModelProfile {
  name: ProfileName;
  /** Side of the square model input frame in pixels (1024 for SAM). */
  inputSize: number;
  /** longest_side: SAM's ResizeLongestSide + pad; stretch: MedSAM's square resize; inside: in the graph. */
  resize: 'longest_side' | 'stretch' | 'inside';
  /** imagenet: (x - mean) / std on 0-255; minmax01: (x - min) / (max - min); inside: in the graph. */
  normalize: 'imagenet' | 'minmax01' | 'inside';
  pixelMean: [number, number, number];
  pixelStd: [number, number, number];
  /** Name of the encoder's image input. */
  imageInput: string;
  /** Embedding shape [channels, height, width]. */
  embeddingShape: [number, number, number];
  /** Side of the decoder's mask_input (256 for SAM). */
  maskInputSize: number;
  /** Candidates the decoder returns per prompt set. */
  candidates: number;
}

/** A SAM model as the gateway uses it: a public name, its encoder and decoder, and its profile. */
export interface SamModel {
  /** The name clients use (an ensemble, or the encoder when no ensemble exists). */
  name: string;
  platform: string;
  encoder: string;
  decoder: string;
  /** Version of the encoder the backend serves (part of the embedding cache key). */
  encoderVersion: string;
  profile: ModelProfile;
  /** Decoder's max_batch_size (0: one prompt set per call). */
  decoderMaxBatch: number;
  /** Decoder input names, in case an export renamed them. */
  decoderInputs: string[];
  /**
   * Rank of the encoder's image input as the model declares it (ModelMetadata, batch dimension included when
   * it has one): 4 for `[B,3,S,S]` or `[1,3,S,S]`, 3 for `[3,S,S]` or `[H,W,3]`.
   */
  imageInputRank: number;
  /** Element type of the encoder's image input: FP32 (preprocessed) or UINT8 (the image's bytes). */
  imageInputDatatype: 'FP32' | 'UINT8';
  /** Encoder outputs that make up the embedding and the decoder input each feeds (the profile decides). */
  embeddingTensors: Array<{ output: string; input: string }>;
  /**
   * Prompt sets the decoder takes in one call on one embedding (leading dimension of point_coords dynamic
   * with max_batch_size 0); 1 when it takes one prompt set per call.
   */
  decoderPromptBatch: number;
}

/** A profile that is missing, malformed or contradicts the model's tensors. */
export class ProfileError extends Error {
  readonly code = 'MODEL_NOT_READY';
  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

function param(config: ModelConfig, key: string): string | undefined {
  return config.parameters?.[key]?.stringValue;
}

function numbers(model: string, key: string, raw: string | undefined, count: number): number[] {
  if (raw === undefined) throw new ProfileError(`${model}: parameter ${key} is missing`);
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.length !== count || values.some((v) => !Number.isFinite(v))) {
    throw new ProfileError(
      `${model}: parameter ${key} must be ${count} comma-separated numbers, got '${raw}'`,
    );
  }
  return values;
}

function oneOf<T extends string>(
  model: string,
  key: string,
  raw: string | undefined,
  allowed: readonly T[],
): T {
  if (raw === undefined || !(allowed as readonly string[]).includes(raw)) {
    throw new ProfileError(
      `${model}: parameter ${key} must be one of ${allowed.join(', ')}, got '${raw ?? '(missing)'}'`,
    );
  }
  return raw as T;
}

/** Reads the profile an encoder's config declares; throws ProfileError naming the bad parameter. */
export function profileFromConfig(encoder: ModelConfig): ModelProfile {
  const m = encoder.name;
  const name = oneOf(m, 'sam.profile', param(encoder, 'sam.profile'), PROFILE_NAMES);
  const [inputSize] = numbers(m, 'sam.input_size', param(encoder, 'sam.input_size') ?? '1024', 1);
  const defaultMean = name === 'sam' ? '123.675,116.28,103.53' : '0,0,0';
  const defaultStd = name === 'sam' ? '58.395,57.12,57.375' : '1,1,1';
  const profile: ModelProfile = {
    name,
    inputSize,
    resize: oneOf(m, 'sam.resize', param(encoder, 'sam.resize'), [
      'longest_side',
      'stretch',
      'inside',
    ] as const),
    normalize: oneOf(m, 'sam.normalize', param(encoder, 'sam.normalize'), [
      'imagenet',
      'minmax01',
      'inside',
    ] as const),
    pixelMean: numbers(m, 'sam.pixel_mean', param(encoder, 'sam.pixel_mean') ?? defaultMean, 3) as [
      number,
      number,
      number,
    ],
    pixelStd: numbers(m, 'sam.pixel_std', param(encoder, 'sam.pixel_std') ?? defaultStd, 3) as [
      number,
      number,
      number,
    ],
    imageInput: param(encoder, 'sam.image_input') ?? encoder.input[0]?.name ?? '',
    embeddingShape: numbers(
      m,
      'sam.embedding_shape',
      param(encoder, 'sam.embedding_shape') ?? '256,64,64',
      3,
    ) as [number, number, number],
    maskInputSize: numbers(m, 'sam.mask_input_size', param(encoder, 'sam.mask_input_size') ?? '256', 1)[0],
    candidates: numbers(m, 'sam.multimask', param(encoder, 'sam.multimask') ?? '4', 1)[0],
  };
  if (profile.pixelStd.some((s) => s === 0)) throw new ProfileError(`${m}: sam.pixel_std must not contain 0`);
  return profile;
}

/** True when two shapes agree, -1 (a variable dimension) matching anything. */
export function dimsMatch(actual: number[], expected: number[]): boolean {
  return (
    actual.length === expected.length &&
    actual.every((d, i) => d === -1 || expected[i] === -1 || d === expected[i])
  );
}

/** The decoder inputs of the official SAM ONNX export. */
export const DECODER_INPUTS = [
  'image_embeddings',
  'point_coords',
  'point_labels',
  'mask_input',
  'has_mask_input',
  'orig_im_size',
] as const;

/** The decoder outputs of the official SAM ONNX export. */
export const DECODER_OUTPUTS = ['masks', 'iou_predictions', 'low_res_masks'] as const;
