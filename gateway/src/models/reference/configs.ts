/**
 * Triton model configurations (config.pbtxt, protobuf text format of `inference.ModelConfig`) of the
 * reference SAM repository. Every encoder and the ensemble declare their preprocessing contract in
 * `parameters` (keys `sam.*`, string values) so the gateway can read it through the ModelConfig RPC.
 * Spec: https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/user_guide/model_configuration.html
 */
import { SAM_PIXEL_MEAN, SAM_PIXEL_STD } from '../../core/sam-transform.ts';

/** Model names of the reference repository. */
export const REFERENCE_MODELS = {
  encoder: 'sam_reference_encoder',
  decoder: 'sam_reference_decoder',
  hwcEncoder: 'sam_reference_hwc_encoder',
  ensemble: 'sam_reference',
} as const;

interface TensorSpec {
  name: string;
  dims: number[];
}

function tensors(kind: 'input' | 'output', specs: TensorSpec[]): string {
  const body = specs
    .map(
      (s) => `  {\n    name: "${s.name}"\n    data_type: TYPE_FP32\n    dims: [ ${s.dims.join(', ')} ]\n  }`,
    )
    .join(',\n');
  return `${kind} [\n${body}\n]\n`;
}

function parameters(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([k, v]) => `parameters {\n  key: "${k}"\n  value { string_value: "${v}" }\n}\n`)
    .join('');
}

const fmt = (values: readonly number[]) => values.join(',');

/** The `sam.*` contract of an encoder with SAM's official preprocessing done by the caller. */
function samContract(profile: 'sam' | 'sam_hwc', imageInput: string): Record<string, string> {
  const inside = profile === 'sam_hwc';
  return {
    'sam.profile': profile,
    'sam.decoder': REFERENCE_MODELS.decoder,
    'sam.input_size': '1024',
    'sam.resize': inside ? 'inside' : 'longest_side',
    'sam.normalize': inside ? 'inside' : 'imagenet',
    'sam.pixel_mean': fmt(SAM_PIXEL_MEAN),
    'sam.pixel_std': fmt(SAM_PIXEL_STD),
    'sam.image_input': imageInput,
    'sam.embedding_shape': '256,64,64',
    'sam.mask_input_size': '256',
    'sam.multimask': '4',
  };
}

const PROMPT_INPUTS: TensorSpec[] = [
  { name: 'point_coords', dims: [-1, 2] },
  { name: 'point_labels', dims: [-1] },
  { name: 'mask_input', dims: [1, 256, 256] },
  { name: 'has_mask_input', dims: [1] },
  { name: 'orig_im_size', dims: [2] },
];
const DECODER_OUTPUTS: TensorSpec[] = [
  { name: 'masks', dims: [4, -1, -1] },
  { name: 'iou_predictions', dims: [4] },
  { name: 'low_res_masks', dims: [4, 256, 256] },
];

/** config.pbtxt of the reference encoder (`x [B,3,1024,1024]` -> `image_embeddings [B,256,64,64]`). */
export function encoderConfig(): string {
  return (
    `name: "${REFERENCE_MODELS.encoder}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 4\n` +
    tensors('input', [{ name: 'x', dims: [3, 1024, 1024] }]) +
    tensors('output', [{ name: 'image_embeddings', dims: [256, 64, 64] }]) +
    'dynamic_batching { }\n' +
    parameters(samContract('sam', 'x'))
  );
}

/** config.pbtxt of the HWC encoder (`input_image [H,W,3]` raw RGB, preprocessing inside, no batching). */
export function hwcEncoderConfig(): string {
  return (
    `name: "${REFERENCE_MODELS.hwcEncoder}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 0\n` +
    tensors('input', [{ name: 'input_image', dims: [-1, -1, 3] }]) +
    tensors('output', [{ name: 'image_embeddings', dims: [1, 256, 64, 64] }]) +
    parameters(samContract('sam_hwc', 'input_image'))
  );
}

/** config.pbtxt of the reference decoder (official SAM decoder I/O, 4 masks). */
export function decoderConfig(): string {
  return (
    `name: "${REFERENCE_MODELS.decoder}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 16\n` +
    tensors('input', [{ name: 'image_embeddings', dims: [256, 64, 64] }, ...PROMPT_INPUTS]) +
    tensors('output', DECODER_OUTPUTS) +
    'dynamic_batching { }\n' +
    // Requests batched together must share orig_im_size: the masks output has one H x W per batch.
    parameters({ 'batching.same_value_inputs': 'orig_im_size' })
  );
}

function mapEntries(kind: 'input_map' | 'output_map', names: string[]): string {
  return names.map((n) => `      ${kind} {\n        key: "${n}"\n        value: "${n}"\n      }\n`).join('');
}

/** config.pbtxt of the ensemble chaining encoder and decoder (image and prompts in, masks out). */
export function ensembleConfig(): string {
  const promptNames = PROMPT_INPUTS.map((p) => p.name);
  const outNames = DECODER_OUTPUTS.map((p) => p.name);
  return (
    `name: "${REFERENCE_MODELS.ensemble}"\nplatform: "ensemble"\n` +
    // The smaller of the two steps' max_batch_size (encoder 4, decoder 16).
    'max_batch_size: 4\n' +
    tensors('input', [{ name: 'x', dims: [3, 1024, 1024] }, ...PROMPT_INPUTS]) +
    tensors('output', DECODER_OUTPUTS) +
    'ensemble_scheduling {\n  step [\n    {\n' +
    `      model_name: "${REFERENCE_MODELS.encoder}"\n      model_version: -1\n` +
    mapEntries('input_map', ['x']) +
    mapEntries('output_map', ['image_embeddings']) +
    '    },\n    {\n' +
    `      model_name: "${REFERENCE_MODELS.decoder}"\n      model_version: -1\n` +
    mapEntries('input_map', ['image_embeddings', ...promptNames]) +
    mapEntries('output_map', outNames) +
    '    }\n  ]\n}\n' +
    parameters({ ...samContract('sam', 'x'), 'sam.encoder': REFERENCE_MODELS.encoder })
  );
}
