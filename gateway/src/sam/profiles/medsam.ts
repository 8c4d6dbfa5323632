/**
 * MedSAM (Ma et al. 2024): SAM ViT-B fine-tuned on medical images, with its own preprocessing: the image is
 * stretched to 1024 x 1024 (no aspect ratio kept, no padding) and min-max scaled to [0, 1]; no ImageNet
 * normalization. Prompts and masks map through the same stretch. Reference: MedSAM's MedSAM_Inference.py.
 */
import { postprocessToMask } from '../../core/sam-postprocess.ts';
import { mapPointStretched, preprocessMedSam } from '../../core/sam-transform.ts';
import type { SamProfile } from '../profile.ts';
import { toUint8 } from '../raster-input.ts';
import { checkSquareInput, lowResPriorIn, samEmbeddingTensors } from './sam.ts';

/** The MedSAM profile. */
export const medsamProfile: SamProfile = {
  name: 'medsam',
  encoderInputs(image, model) {
    const input = preprocessMedSam(toUint8(image), model.profile.inputSize);
    const shape = model.imageInputRank === 3 ? [...input.dims] : [1, ...input.dims];
    return [{ name: model.profile.imageInput, datatype: 'FP32', shape, data: input.data }];
  },
  embeddingTensors: samEmbeddingTensors,
  toModelFrame: (x, y, h, w, p) => mapPointStretched(x, y, h, w, p.inputSize),
  postprocess(lowRes, size, h, w, p, o) {
    const post = postprocessToMask(lowRes, size, h, w, {
      inputSize: p.inputSize,
      resize: 'stretch',
      threshold: o.threshold,
      stabilityOffset: o.stabilityOffset,
    });
    return { mask: { width: w, height: h, data: post.mask }, stabilityScore: post.stabilityScore };
  },
  lowResPrior: (mask, p, magnitude = 8) => lowResPriorIn(mask, p, p.inputSize, p.inputSize, magnitude),
  checkImageInput: checkSquareInput,
};
