/**
 * The `sam_hwc` contract: an encoder with SAM's preprocessing inside its graph takes the image itself as
 * `[H, W, 3]` RGB on the 0-255 scale: uint8 (the image's bytes, as mobilesam_hwc_encoder) or FP32 (as
 * samexporter's `--use-preprocess` export). Everything after the encoder is SAM's: the model frame is the
 * longest-side resize, so prompts, masks and priors map exactly as for the official profile.
 */
import type { SamProfile } from '../profile.ts';
import { toUint8 } from '../raster-input.ts';
import { samProfile } from './sam.ts';

/** The sam_hwc profile. */
export const samHwcProfile: SamProfile = {
  ...samProfile,
  name: 'sam_hwc',
  encoderInputs(image, model) {
    const rgb = toUint8(image);
    const n = image.width * image.height;
    const data = model.imageInputDatatype === 'UINT8' ? new Uint8Array(n * 3) : new Float32Array(n * 3);
    for (let i = 0; i < n; i++)
      for (let c = 0; c < 3; c++) data[i * 3 + c] = rgb.data[i * rgb.channels + (rgb.channels === 3 ? c : 0)];
    const shape =
      model.imageInputRank === 4 ? [1, image.height, image.width, 3] : [image.height, image.width, 3];
    return [{ name: model.profile.imageInput, datatype: model.imageInputDatatype, shape, data }];
  },
  checkImageInput(image) {
    const tail = image.shape.slice(-1);
    const problems: string[] = [];
    if (image.datatype !== 'UINT8' && image.datatype !== 'FP32')
      problems.push(
        `encoder input ${image.name} must be UINT8 or FP32 [H,W,3], model declares ${image.datatype}`,
      );
    if (tail[0] !== 3 && tail[0] !== -1)
      problems.push(
        `encoder input ${image.name} must end in 3 channels ([H,W,3]), model declares [${image.shape.join(',')}]`,
      );
    return problems;
  },
};
