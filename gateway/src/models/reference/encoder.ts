/**
 * The reference SAM image encoder: official encoder contract (`x [B,3,1024,1024]` ImageNet-normalized RGB
 * -> `image_embeddings [B,256,64,64]`) with a classical inside. The "embedding" is the full-resolution grey
 * intensity packed losslessly: grey = mean of the de-normalized channels (0-255 scale, so the padded zeros
 * read as grey 117.8), a light 3x3 box blur (1024 frame; borders averaged over the pixels inside), then
 * SpaceToDepth(16), which stores pixel (y, x) in cell (y div 16, x div 16), channel
 * (y mod 16) * 16 + (x mod 16).
 */
import { SAM_PIXEL_MEAN, SAM_PIXEL_STD } from '../../core/sam-transform.ts';
import { GraphBuilder, OnnxType, serializeModel, type Dim } from '../onnx-builder.ts';

/** ONNX opset of every reference model (Triton's onnxruntime backend serves ≤ 17). */
export const REFERENCE_OPSET = 17;
/** producer_name written into the reference models. */
export const REFERENCE_PRODUCER = 'medseg-gateway reference';
/** producer_version: bump when a graph changes so deployed files can be told apart. */
export const REFERENCE_VERSION = '1';

/**
 * Adds the encoder body to `g`: from a normalized `[B,3,1024,1024]` value to `image_embeddings` (the name
 * given) `[B,256,64,64]`.
 */
export function addEncoderBody(g: GraphBuilder, x: string, out: string): void {
  // Mul + ReduceSum + Add instead of a 1x1 Conv, and a 3x3 box blur as AveragePool instead of a Gaussian
  // Conv: onnxruntime runs these on the CPU several times faster (no layout reordering).
  const w = g.constF(
    SAM_PIXEL_STD.map((s) => s / 3),
    [1, 3, 1, 1],
    'grey_w',
  );
  const bias = g.constF([(SAM_PIXEL_MEAN[0] + SAM_PIXEL_MEAN[1] + SAM_PIXEL_MEAN[2]) / 3], [], 'grey_b');
  const weighted = g.op1('ReduceSum', [g.op1('Mul', [x, w]), g.constI64([1])], { keepdims: 1 });
  const grey = g.op1('Add', [weighted, bias]);
  const by = g.op1('AveragePool', [grey], {
    kernel_shape: [3, 3],
    pads: [1, 1, 1, 1],
    strides: [1, 1],
    count_include_pad: 0,
  });
  g.op1('SpaceToDepth', [by], { blocksize: 16 }, out);
}

/** Builds the reference encoder model bytes (input `x`, output `image_embeddings`). */
export function buildReferenceEncoder(): Uint8Array {
  const g = new GraphBuilder('sam_reference_encoder');
  const batch: Dim = 'batch';
  const x = g.input('x', OnnxType.FLOAT, [batch, 3, 1024, 1024]);
  addEncoderBody(g, x, 'image_embeddings');
  g.output('image_embeddings', OnnxType.FLOAT, [batch, 256, 64, 64]);
  return serializeModel(g, {
    opset: REFERENCE_OPSET,
    producerName: REFERENCE_PRODUCER,
    producerVersion: REFERENCE_VERSION,
    docString:
      'Reference SAM encoder (classical): grey intensity, 3x3 box blur, SpaceToDepth(16). Input: SAM-normalized RGB.',
    metadata: { 'sam.profile': 'sam', 'sam.decoder': 'sam_reference_decoder' },
  });
}
