/**
 * The official SAM family (SAM ViT-B/L/H and MobileSAM, which shares SAM's interface and preprocessing):
 * resize the longest side to 1024 with PIL's bilinear filter, normalize with pixel_mean/pixel_std on the
 * 0-255 scale, zero-pad bottom/right; prompts map by the same scale; masks come back through the inverse.
 * Reference: segment_anything/utils/transforms.py, modeling/sam.py (preprocess, postprocess_masks).
 */
import type { BinaryMask } from '../../core/mask.ts';
import { postprocessToMask } from '../../core/sam-postprocess.ts';
import { longestSideSize, mapPointToModel, preprocessSam } from '../../core/sam-transform.ts';
import type { LowResLogits } from '../../core/segmenter.ts';
import type { ModelMetadata, TensorMetadata } from '../../protocol/types.ts';
import type { ModelProfile } from '../contract.ts';
import type { SamProfile } from '../profile.ts';
import { toUint8 } from '../raster-input.ts';

/** The decoder input SAM's embedding feeds, and the usual encoder output name. */
export const SAM_EMBEDDING = 'image_embeddings';

/** SAM's single embedding: the encoder output named image_embeddings, else its only output. */
export function samEmbeddingTensors(
  encoder: ModelMetadata,
  _decoder: ModelMetadata,
): Array<{ output: string; input: string }> {
  const out = encoder.outputs.find((t) => t.name === SAM_EMBEDDING) ?? encoder.outputs[0];
  return out ? [{ output: out.name, input: SAM_EMBEDDING }] : [];
}

/**
 * A mask as SAM's mask_input: the model frame's low-res grid sampled at cell centres over the resized
 * image (`newH x newW` inside the padded square), +magnitude inside, -magnitude elsewhere.
 */
export function lowResPriorIn(
  mask: BinaryMask,
  profile: ModelProfile,
  newH: number,
  newW: number,
  magnitude: number,
): LowResLogits {
  const s = profile.maskInputSize;
  const data = new Float32Array(s * s).fill(-magnitude);
  // Each low-res cell covers frame/s model pixels; sample the mask at the cell centre.
  const cell = profile.inputSize / s;
  for (let y = 0; y < s; y++) {
    const my = (y + 0.5) * cell;
    if (my >= newH) break;
    const oy = Math.min(mask.height - 1, Math.floor((my * mask.height) / newH));
    for (let x = 0; x < s; x++) {
      const mx = (x + 0.5) * cell;
      if (mx >= newW) break;
      const ox = Math.min(mask.width - 1, Math.floor((mx * mask.width) / newW));
      if (mask.data[oy * mask.width + ox]) data[y * s + x] = magnitude;
    }
  }
  return { size: s, data };
}

/** Checks an encoder input that takes the preprocessed square `[.., 3, S, S]` FP32. */
export function checkSquareInput(image: TensorMetadata, profile: ModelProfile): string[] {
  const s = profile.inputSize;
  const tail = image.shape.slice(-3);
  const ok = tail.length === 3 && [3, s, s].every((d, i) => tail[i] === -1 || tail[i] === d);
  const problems: string[] = [];
  if (image.datatype !== 'FP32')
    problems.push(
      `encoder input ${image.name} must be FP32 (preprocessed), model declares ${image.datatype}`,
    );
  if (!ok)
    problems.push(
      `encoder input ${image.name} must end in [3,${s},${s}], model declares [${image.shape.join(',')}]`,
    );
  return problems;
}

/** The official SAM profile. */
export const samProfile: SamProfile = {
  name: 'sam',
  encoderInputs(image, model) {
    const p = model.profile;
    const input = preprocessSam(toUint8(image), p.inputSize, { mean: p.pixelMean, std: p.pixelStd });
    // A batch dimension (Triton's max_batch_size > 0, or the export's fixed leading 1) gets a batch of one; an
    // encoder declared as [3, S, S] takes the image alone.
    const shape = model.imageInputRank === 3 ? [...input.dims] : [1, ...input.dims];
    return [{ name: p.imageInput, datatype: 'FP32', shape, data: input.data }];
  },
  embeddingTensors: samEmbeddingTensors,
  toModelFrame: (x, y, h, w, p) => mapPointToModel(x, y, h, w, p.inputSize),
  postprocess(lowRes, size, h, w, p, o) {
    const post = postprocessToMask(lowRes, size, h, w, {
      inputSize: p.inputSize,
      resize: 'longest_side',
      threshold: o.threshold,
      stabilityOffset: o.stabilityOffset,
    });
    return { mask: { width: w, height: h, data: post.mask }, stabilityScore: post.stabilityScore };
  },
  lowResPrior(mask, p, magnitude = 8) {
    const [newH, newW] = longestSideSize(mask.height, mask.width, p.inputSize);
    return lowResPriorIn(mask, p, newH, newW, magnitude);
  },
  checkImageInput: checkSquareInput,
};
