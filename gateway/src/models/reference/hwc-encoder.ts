/**
 * The reference encoder with preprocessing baked in (`input_image [H,W,3]` raw RGB 0-255 ->
 * `image_embeddings [1,256,64,64]`), the contract of several community SAM exports. Inside: resize the
 * longest side to 1024 with ONNX Resize (linear, half_pixel, then rounded to 0..255 as the official uint8
 * path), ImageNet normalization, zero padding, then the same body as the main encoder.
 * Tolerance against the main encoder on the official preprocessing (preprocessSam): opset 17's Resize has
 * no antialiasing, so it equals PIL's bilinear when upscaling (measured: embeddings within 1 grey level,
 * mean difference 0.09, images of 150x110 to 300x200) but not when downscaling (1500x1000: max 11 grey
 * levels at sharp edges, mean 0.4).
 */
import { SAM_PIXEL_MEAN, SAM_PIXEL_STD } from '../../core/sam-transform.ts';
import { GraphBuilder, OnnxType, serializeModel } from '../onnx-builder.ts';
import { addEncoderBody, REFERENCE_OPSET, REFERENCE_PRODUCER, REFERENCE_VERSION } from './encoder.ts';
import { Ops } from './graph-helpers.ts';

/** Builds the HWC reference encoder model bytes. */
export function buildReferenceHwcEncoder(): Uint8Array {
  const g = new GraphBuilder('sam_reference_hwc_encoder');
  const o = new Ops(g);
  const img = g.input('input_image', OnnxType.FLOAT, ['height', 'width', 3]);
  const chw = o.unsqueeze(g.op1('Transpose', [img], { perm: [2, 0, 1] }), [0]);
  const hwI = g.op1('Slice', [g.op1('Shape', [img]), o.i([0]), o.i([2])]);
  const hw = g.op1('Cast', [hwI], { to: OnnxType.FLOAT });
  const s = o.div(o.f(1024), o.rmax(hw, [0], 0));
  const newHW = g.op1('Cast', [o.floor(o.add(o.mul(hw, s), o.f(0.5)))], { to: OnnxType.INT64 });
  const sizes = g.op1('Concat', [o.i([1, 3]), newHW], { axis: 0 });
  const resized = g.op1('Resize', [chw, '', '', sizes], {
    mode: 'linear',
    coordinate_transformation_mode: 'half_pixel',
  });
  const rounded = g.op1('Clip', [g.op1('Round', [resized]), o.f(0), o.f(255)]);
  const norm = o.div(
    o.sub(rounded, o.f([...SAM_PIXEL_MEAN], [1, 3, 1, 1])),
    o.f([...SAM_PIXEL_STD], [1, 3, 1, 1]),
  );
  const pads = g.op1('Concat', [o.i([0, 0, 0, 0, 0, 0]), o.g.op1('Sub', [o.i([1024, 1024]), newHW])], {
    axis: 0,
  });
  const padded = g.op1('Pad', [norm, pads], { mode: 'constant' });
  addEncoderBody(g, padded, 'image_embeddings');
  g.output('image_embeddings', OnnxType.FLOAT, [1, 256, 64, 64]);
  return serializeModel(g, {
    opset: REFERENCE_OPSET,
    producerName: REFERENCE_PRODUCER,
    producerVersion: REFERENCE_VERSION,
    docString: 'Reference SAM encoder with preprocessing inside: raw RGB [H,W,3] 0-255 in.',
    metadata: { 'sam.profile': 'sam_hwc', 'sam.decoder': 'sam_reference_decoder' },
  });
}
